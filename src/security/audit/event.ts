import { createHash } from "node:crypto";
import type { AuditEventRow } from "../../db/schema.js";

/** An audit event before it is placed in the chain (seq and hashes are assigned on write). */
export type AuditEventDraft = Omit<AuditEventRow, "seq" | "prevHash" | "hash">;

/** The hash the first event chains to. */
export const GENESIS_HASH = "0".repeat(64);

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

type HashedEvent = Omit<AuditEventRow, "hash">;

/** Every column but the hash itself: a Record, so a column added to the table must be listed. */
const HASHED_COLUMNS: Record<keyof HashedEvent, true> = {
  id: true,
  seq: true,
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
  prevHash: true,
};

/** The hashed columns with their JSON keys, in canonical (sorted) order. */
const HASHED_FIELDS = (Object.keys(HASHED_COLUMNS) as (keyof HashedEvent)[])
  .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  .map((name) => ({ name, key: `${JSON.stringify(name)}:` }));

/**
 * SHA-256 over the canonical encoding of every column but the hash itself (prevHash included),
 * so changing any stored value, or the event's place in the chain, changes the hash. The same
 * string as canonicalJson of an object of those columns, with the key order worked out once
 * instead of sorted again for every event (it is hashed on every request's path).
 */
export function hashEvent(event: HashedEvent): string {
  let json = "";
  for (const { name, key } of HASHED_FIELDS) {
    const value = event[name];
    if (value === undefined) continue;
    json += `${json === "" ? "{" : ","}${key}${canonicalJson(value)}`;
  }
  return createHash("sha256")
    .update(json === "" ? "{}" : `${json}}`)
    .digest("hex");
}

/** The copy of an event for the structured log (SIEM): no variables, no user agent. */
export function logFieldsOf(event: AuditEventRow) {
  return {
    id: event.id,
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
