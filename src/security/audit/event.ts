import { hash } from "node:crypto";
import type { AuditEventRow } from "../../db/schema.js";

/** An audit event before it is placed in its chain (seq and hashes are assigned on write). */
export type AuditEventDraft = Omit<AuditEventRow, "seq" | "prevHash" | "hash">;

/** The error code of the event stored in place of one the database refused (see AuditBuffer). */
export const UNSTORABLE_EVENT = "AUDIT_EVENT_UNSTORABLE";

/**
 * What is stored of an event the database refused: who, when, where in the chain and what
 * outcome, without the free-form columns one of which was refused.
 */
export const unstorablePlaceholder = (draft: AuditEventDraft): AuditEventDraft => ({
  ...draft,
  ip: null,
  userAgent: null,
  operationName: null,
  variables: null,
  outcome: "ERROR",
  errorCodes: [...new Set([...draft.errorCodes, UNSTORABLE_EVENT])],
});

/** The hash the first event of a chain chains to. */
export const GENESIS_HASH = "0".repeat(64);

/** The chain of events that have no organization (a refused anonymous request, a signUp). */
export const NO_ORGANIZATION_CHAIN = "00000000-0000-0000-0000-000000000000";
/**
 * The one chain of the releases before chains per organization: its events keep the seqs and
 * hashes they were written with (legacyEventHash), and nothing is appended to it any more.
 */
export const LEGACY_CHAIN = "00000000-0000-0000-0000-000000000001";

/** The chain an event of this organization (or of none) belongs to. */
export const chainOf = (orgId: string | null): string => orgId ?? NO_ORGANIZATION_CHAIN;

/** Whether a JSON value nests deeper than `limit` (looking no deeper than that). */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  if (value === null || typeof value !== "object") return false;
  if (limit === 0) return true;
  const inner = Array.isArray(value) ? value : Object.values(value as Record<string, unknown>);
  return inner.some((item) => nestedDeeperThan(item, limit - 1));
}

/** JSON with object keys sorted at every depth: one encoding per value, whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, inner]) => inner !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The columns an event's content hash covers: all but its place in the chain. */
type EventContent = Omit<AuditEventRow, "seq" | "prevHash" | "hash">;

/** A Record, so that a column added to the table must be listed here (or the build fails). */
const CONTENT_COLUMNS: Record<keyof EventContent, true> = {
  id: true,
  chainId: true,
  orgId: true,
  at: true,
  actorType: true,
  actorId: true,
  ip: true,
  userAgent: true,
  operationType: true,
  operationName: true,
  documentHash: true,
  variables: true,
  outcome: true,
  errorCodes: true,
  sensitiveFields: true,
  deniedFields: true,
  requestedCost: true,
  actualCost: true,
  requestId: true,
  durationMs: true,
};

/** The legacy chain's columns: every column the table had then, its place in the chain included. */
const LEGACY_COLUMNS = [
  ...Object.keys(CONTENT_COLUMNS).filter((name) => name !== "chainId"),
  "seq",
  "prevHash",
] as (keyof AuditEventRow)[];

/** Columns with their JSON keys, in canonical (sorted) order, worked out once. */
const sortedFields = (names: readonly (keyof AuditEventRow)[]) =>
  [...names]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => ({ name, key: `${JSON.stringify(name)}:` }));

const CONTENT_FIELDS = sortedFields(Object.keys(CONTENT_COLUMNS) as (keyof EventContent)[]);
const LEGACY_FIELDS = sortedFields(LEGACY_COLUMNS);

/**
 * SHA-256 over the canonical JSON of the given columns: the same string as canonicalJson of an
 * object of those columns, with the key order worked out once instead of sorted again for every
 * event (it is hashed on every request's path).
 */
function hashColumns(
  event: Partial<AuditEventRow>,
  fields: readonly { name: keyof AuditEventRow; key: string }[],
): string {
  let json = "";
  for (const { name, key } of fields) {
    const value = event[name];
    if (value === undefined) continue;
    json += `${json === "" ? "{" : ","}${key}${canonicalJson(value)}`;
  }
  return hash("sha256", json === "" ? "{}" : `${json}}`, "hex");
}

/** What an event says, hashed: every column but its place in the chain (its chain included). */
export const contentHash = (event: EventContent): string => hashColumns(event, CONTENT_FIELDS);

/**
 * An event's hash in its chain: SHA-256 of the previous event's hash and its own content hash,
 * as 32 bytes each. PostgreSQL computes the same (sha256 of the two decoded digests) when a
 * mutation appends its event in one statement.
 */
export const chainHash = (prevHash: string, content: string): string =>
  hash("sha256", Buffer.concat([Buffer.from(prevHash, "hex"), Buffer.from(content, "hex")]), "hex");

/** A legacy-chain event's hash: over every column it had (its seq and prevHash included). */
export const legacyEventHash = (event: AuditEventRow): string => hashColumns(event, LEGACY_FIELDS);

/** The hash an event must carry, by the rules of its chain. */
export const expectedHash = (event: AuditEventRow): string =>
  event.chainId === LEGACY_CHAIN
    ? legacyEventHash(event)
    : chainHash(event.prevHash, contentHash(event));

/** The copy of an event for the structured log (SIEM): no variables, no user agent. */
export function logFieldsOf(event: AuditEventRow) {
  return {
    id: event.id,
    chainId: event.chainId,
    seq: event.seq,
    hash: event.hash,
    at: event.at.toISOString(),
    requestId: event.requestId,
    orgId: event.orgId,
    actorType: event.actorType,
    actorId: event.actorId,
    ip: event.ip,
    operationType: event.operationType,
    operationName: event.operationName,
    documentHash: event.documentHash,
    outcome: event.outcome,
    errorCodes: event.errorCodes,
    sensitiveFields: event.sensitiveFields,
    deniedFields: event.deniedFields,
    requestedCost: event.requestedCost,
    actualCost: event.actualCost,
    durationMs: event.durationMs,
  };
}
