import { asc, getTableColumns, inArray, type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.js";
import { rawRows } from "../../db/raw-rows.js";
import { auditChains, type AuditEventRow, auditEvents } from "../../db/schema.js";
import { type AuditEventDraft, chainHash, contentHash, GENESIS_HASH } from "./event.js";

/*
 * Appending to the audit chains. Each organization's events form a hash chain of their own (and
 * events without an organization one more): an event's hash is SHA-256 of the previous event's
 * hash and its own content hash (event.ts), its seq the next of its chain. A chain's head row in
 * audit_chains is locked by every writer of that chain until it commits, so its events cannot
 * fork, whichever instance or path writes them; writers of different chains never wait for each
 * other.
 */

const COLUMNS = Object.entries(getTableColumns(auditEvents)).map(
  ([key, column]) => [key as keyof AuditEventRow, column.name] as const,
);
const CHAIN_COLUMNS: ReadonlySet<string> = new Set(["seq", "prev_hash", "hash"]);

/** The event as a JSON record keyed by column name (for json_populate_record[set]). */
function recordOf(row: Partial<AuditEventRow>): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [key, name] of COLUMNS) record[name] = row[key];
  return record;
}

/** The event's columns, its place in the chain taken from the head the append just moved. */
const APPEND_COLUMNS = sql.join(
  COLUMNS.map(([, name]) => sql.identifier(name)),
  sql`, `,
);
const APPEND_VALUES = sql.join(
  COLUMNS.map(([, name]) =>
    CHAIN_COLUMNS.has(name) ? sql`head.${sql.identifier(name)}` : sql`r.${sql.identifier(name)}`,
  ),
  sql`, `,
);

/** An appended event, and the principals its transaction changed (see appendEvent). */
export interface AppendedEvent {
  row: AuditEventRow;
  /**
   * The principal changes the transaction's triggers listed (drizzle/0008), space-separated:
   * read by the append, the transaction's last statement, so that the instance forgets them
   * before it answers, without a statement of its own.
   */
  changedPrincipals: string | null;
}

/**
 * Appends one event (a mutation's, in the mutation's transaction) in one statement: it moves the
 * chain's head (creating it for a chain's first event), the database computing the link, and
 * inserts the event with the head's new seq and hashes. The head stays locked only until the
 * transaction commits, which is the next thing the mutation does.
 */
export async function appendEvent(tx: Database, draft: AuditEventDraft): Promise<AppendedEvent> {
  const content = contentHash(draft);
  const link = (prev: SQL) =>
    sql`encode(sha256(decode(${prev}, 'hex') || decode(${content}, 'hex')), 'hex')`;
  const [appended] = await rawRows<{
    seq: number | string;
    prev_hash: string;
    hash: string;
    changed_principals: string | null;
  }>(
    tx,
    sql`
    with head as (
      insert into ${auditChains} as c (chain_id, seq, prev_hash, hash)
      values (${draft.chainId}, 1, ${GENESIS_HASH}, ${link(sql`${GENESIS_HASH}`)})
      on conflict (chain_id) do update
        set seq = c.seq + 1, prev_hash = c.hash, hash = ${link(sql`c.hash`)}
      returning seq, prev_hash, hash
    )
    insert into ${auditEvents} (${APPEND_COLUMNS})
    select ${APPEND_VALUES}
    from json_populate_record(null::${auditEvents}, ${JSON.stringify(recordOf(draft))}::json) r, head
    returning seq, prev_hash, hash, current_setting('app.changed_principals', true) as changed_principals`,
  );
  return {
    row: {
      ...draft,
      seq: Number(appended!.seq),
      prevHash: appended!.prev_hash,
      hash: appended!.hash,
    },
    changedPrincipals: appended!.changed_principals,
  };
}

/**
 * One INSERT of any number of events with a single parameter: the rows as a JSON array keyed
 * by column name, which PostgreSQL turns into audit_events records. A batch of 500 events is
 * one short statement instead of 11,000 bound values. The parameter is json, not jsonb: it is
 * read once, so converting it to jsonb's binary form first would only cost the database time.
 */
function insertEvents(tx: Database, rows: readonly AuditEventRow[]) {
  return tx.execute(
    sql`insert into ${auditEvents} select * from json_populate_recordset(null::${auditEvents}, ${JSON.stringify(rows.map(recordOf))}::json)`,
  );
}

/**
 * Appends a batch of events, of any chains (the write-behind buffer's), in four statements
 * whatever the number of chains: new chains' heads are created, every head of the batch is
 * locked (in chain order, so that concurrent writers cannot deadlock), the events are linked
 * here and inserted, and the heads moved. Must run inside a transaction. Events already stored
 * (a retry after a commit whose acknowledgement was lost) are skipped, so a retry never writes
 * one twice; `firstAttempt` (a batch no write has tried) skips that lookup.
 * Returns the rows written, in each chain's order.
 */
export async function appendToChains(
  tx: Database,
  drafts: readonly AuditEventDraft[],
  options: { firstAttempt?: boolean } = {},
): Promise<AuditEventRow[]> {
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
  const fresh = drafts.filter((draft) => !already.has(draft.id));
  if (fresh.length === 0) return [];
  const chainIds = [...new Set(fresh.map((draft) => draft.chainId))].sort();
  await tx
    .insert(auditChains)
    .values(
      chainIds.map((chainId) => ({ chainId, seq: 0, prevHash: GENESIS_HASH, hash: GENESIS_HASH })),
    )
    .onConflictDoNothing();
  const heads = await tx
    .select()
    .from(auditChains)
    .where(inArray(auditChains.chainId, chainIds))
    .orderBy(asc(auditChains.chainId))
    .for("update");
  const tips = new Map(heads.map((head) => [head.chainId, head]));
  const rows: AuditEventRow[] = [];
  for (const draft of fresh) {
    const tip = tips.get(draft.chainId)!;
    const row: AuditEventRow = {
      ...draft,
      seq: tip.seq + 1,
      prevHash: tip.hash,
      hash: chainHash(tip.hash, contentHash(draft)),
    };
    tips.set(draft.chainId, {
      chainId: draft.chainId,
      seq: row.seq,
      prevHash: row.prevHash,
      hash: row.hash,
    });
    rows.push(row);
  }
  await insertEvents(tx, rows);
  await tx.execute(sql`
    update ${auditChains} as c set seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
    from json_to_recordset(${JSON.stringify([...tips.values()].map((t) => ({ chain_id: t.chainId, seq: t.seq, prev_hash: t.prevHash, hash: t.hash })))}::json)
      as v(chain_id uuid, seq bigint, prev_hash text, hash text)
    where c.chain_id = v.chain_id`);
  return rows;
}
