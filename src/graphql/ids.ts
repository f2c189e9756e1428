import { notFound } from "./errors.js";

/** Types that implement Node; a global id names one of them and its row id. */
export const NODE_TYPES = [
  "Organization",
  "User",
  "Customer",
  "Note",
  "AuditEvent",
  "ApiClient",
] as const;
export type NodeType = (typeof NODE_TYPES)[number];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const toGlobalId = (type: NodeType, rowId: string): string =>
  Buffer.from(`${type}:${rowId}`, "utf8").toString("base64url");

/** Decodes a global id; anything malformed yields undefined (the caller treats it as not found). */
export function fromGlobalId(id: string): { type: NodeType; rowId: string } | undefined {
  if (id.length > 200) return undefined;
  const [type, rowId, ...rest] = Buffer.from(id, "base64url").toString("utf8").split(":");
  if (rest.length > 0 || !rowId || !UUID.test(rowId)) return undefined;
  return (NODE_TYPES as readonly string[]).includes(type ?? "")
    ? { type: type as NodeType, rowId }
    : undefined;
}

/** The row id of a global id of the expected type, or undefined when it cannot be one. */
export function rowIdOf(id: string, type: NodeType): string | undefined {
  const decoded = fromGlobalId(id);
  return decoded?.type === type ? decoded.rowId : undefined;
}

/** An organization's row id as an operator gives it: its UUID, or its global id. */
export function organizationIdOf(text: string): string | undefined {
  const trimmed = text.trim();
  return UUID.test(trimmed.toLowerCase())
    ? trimmed.toLowerCase()
    : rowIdOf(trimmed, "Organization");
}

/** For mutations: an id that cannot name an object of this type is as missing as any other. */
export function requireRowId(id: string, type: NodeType): string {
  const rowId = rowIdOf(id, type);
  if (!rowId) throw notFound();
  return rowId;
}
