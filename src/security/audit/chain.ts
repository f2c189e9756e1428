import { eq, getTableColumns, inArray, sql } from "drizzle-orm";
import type { Database } from "../../db/client.js";
import { auditChainHead, type AuditEventRow, auditEvents } from "../../db/schema.js";
import { type AuditEventDraft, hashEvent } from "./event.js";

const HEAD_ID = 1;

const COLUMNS = Object.entries(getTableColumns(auditEvents)).map(
  ([key, column]) => [key as keyof AuditEventRow, column.name] as const,
);

/**
 * One INSERT of any number of events with a single parameter: the rows as a JSON array keyed
 * by column name, which PostgreSQL turns into audit_events records. A batch of 500 events is
 * one short statement instead of 11,000 bound values, and one prepared statement serves every
 * batch size. The parameter is json, not jsonb: it is read once, so converting it to jsonb's
 * binary form first would only cost the database time.
 */
function insertEvents(tx: Database, rows: readonly AuditEventRow[]) {
  const records = rows.map((row) => {
    const record: Record<string, unknown> = {};
    for (const [key, name] of COLUMNS) record[name] = row[key];
    return record;
  });
  return tx.execute(
    sql`insert into ${auditEvents} select * from json_populate_recordset(null::${auditEvents}, ${JSON.stringify(records)}::json)`,
  );
}

/**
 * Appends events to the hash chain. Must run inside a transaction: the chain head is locked
 * FOR UPDATE until it commits, so every writer (each instance's buffer flusher, each mutation)
 * appends after the previous one and the chain cannot fork. Events already stored (a retry after
 * a commit whose acknowledgement was lost) are skipped, so a retry never writes one twice;
 * `firstAttempt` (a mutation's own event, a buffer batch no write has tried) skips that lookup,
 * which would hold the lock longer. Without it, the lookup runs.
 * Returns the rows written, in chain order.
 */
export async function appendToChain(
  tx: Database,
  drafts: readonly AuditEventDraft[],
  options: { firstAttempt?: boolean } = {},
): Promise<AuditEventRow[]> {
  if (drafts.length === 0) return [];
  const [head] = await tx
    .select()
    .from(auditChainHead)
    .where(eq(auditChainHead.id, HEAD_ID))
    .for("update");
  if (!head) throw new Error("audit chain head is missing (migrations not applied?)");
  // A retried batch may have committed already (its acknowledgement lost): skip what is stored.
  // A first attempt cannot have been.
  const stored = options.firstAttempt
    ? []
    : await tx
        .select({ id: auditEvents.id })
        .from(auditEvents)
        .where(
          inArray(
            auditEvents.id,
            drafts.map((d) => d.id),
          ),
        );
  const already = new Set(stored.map((row) => row.id));
  let { seq, hash } = head;
  const rows: AuditEventRow[] = [];
  for (const draft of drafts) {
    if (already.has(draft.id)) continue;
    seq += 1;
    const row: AuditEventRow = { ...draft, seq, prevHash: hash, hash: "" };
    hash = row.hash = hashEvent(row); // hashEvent leaves the hash column out
    rows.push(row);
  }
  if (rows.length === 0) return [];
  await insertEvents(tx, rows);
  await tx.update(auditChainHead).set({ seq, hash }).where(eq(auditChainHead.id, HEAD_ID));
  return rows;
}
