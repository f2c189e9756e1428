import { asc, getTableColumns, inArray, type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.js";
import { fixedStatement } from "../../db/fixed-statement.js";
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

const LINK_TO = (prev: SQL) =>
  sql`encode(sha256(decode(${prev}, 'hex') || decode(${sql.placeholder("content")}, 'hex')), 'hex')`;

const APPEND_ONE = fixedStatement<{
  seq: number | string;
  prev_hash: string;
  hash: string;
  changed_principals: string | null;
}>(sql`
  with head as (
    insert into ${auditChains} as c (chain_id, seq, prev_hash, hash)
    values (${sql.placeholder("chainId")}, 1, ${GENESIS_HASH}, ${LINK_TO(sql`${GENESIS_HASH}`)})
    on conflict (chain_id) do update
      set seq = c.seq + 1, prev_hash = c.hash, hash = ${LINK_TO(sql`c.hash`)}
    returning seq, prev_hash, hash
  )
  insert into ${auditEvents} (${APPEND_COLUMNS})
  select ${APPEND_VALUES}
  from json_populate_record(null::${auditEvents}, ${sql.placeholder("event")}::json) r, head
  returning seq, prev_hash, hash, current_setting('app.changed_principals', true) as changed_principals`);

/**
 * Appends one event (a mutation's, in the mutation's transaction) in one statement: it moves the
 * chain's head (creating it for a chain's first event), the database computing the link, and
 * inserts the event with the head's new seq and hashes. The head stays locked only until the
 * transaction commits, which is the next thing the mutation does.
 */
export async function appendEvent(tx: Database, draft: AuditEventDraft): Promise<AppendedEvent> {
  const [appended] = await APPEND_ONE(tx, {
    chainId: draft.chainId,
    content: contentHash(draft),
    event: JSON.stringify(recordOf(draft)),
  });
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

/** A chain's head: its last event's seq and hash. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/**
 * Links `drafts` (in order) after the heads in `tips`, which end up at the new heads. Every
 * chain of the drafts must have a head there.
 */
function linkAfter(tips: Map<string, ChainHead>, drafts: readonly AuditEventDraft[]) {
  const rows: AuditEventRow[] = [];
  for (const draft of drafts) {
    const tip = tips.get(draft.chainId)!;
    const row: AuditEventRow = {
      ...draft,
      seq: tip.seq + 1,
      prevHash: tip.hash,
      hash: chainHash(tip.hash, contentHash(draft)),
    };
    tips.set(draft.chainId, { seq: row.seq, hash: row.hash });
    rows.push(row);
  }
  return rows;
}

/** The last row of each chain among `rows` (in order): where each chain's head moves to. */
const lastOfEachChain = (rows: readonly AuditEventRow[]): AuditEventRow[] => [
  ...new Map(rows.map((row) => [row.chainId, row])).values(),
];

const APPEND_AFTER_HEADS = fixedStatement<{ id: string }>(sql`
  with moved as (
    update ${auditChains} as c set seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
    from json_to_recordset(${sql.placeholder("heads")}::json)
      as v(chain_id uuid, from_seq bigint, from_hash text, seq bigint, prev_hash text, hash text)
    where c.chain_id = v.chain_id and c.seq = v.from_seq and c.hash = v.from_hash
    returning c.chain_id
  )
  insert into ${auditEvents}
  select r.* from json_populate_recordset(null::${auditEvents}, ${sql.placeholder("events")}::json) r
  where r.chain_id in (select chain_id from moved)
  returning id`);

/**
 * Appends a batch after heads this instance believes current (it wrote or saw them last), in
 * one statement and without a transaction: each chain's head moves only if it is still where
 * `known` says (compare and set, under the head's row lock), and only the events of chains that
 * moved are inserted. Returns the rows stored and the drafts of the chains whose head had moved
 * meanwhile (another writer came first), to append with appendToChains. Nothing can fork: a
 * head that moved is never overwritten. Every chain of `drafts` must be in `known`.
 */
export async function appendAfterKnownHeads(
  db: Database,
  drafts: readonly AuditEventDraft[],
  known: ReadonlyMap<string, ChainHead>,
): Promise<{ rows: AuditEventRow[]; stale: AuditEventDraft[] }> {
  const linked = linkAfter(new Map(known), drafts);
  const moves = lastOfEachChain(linked).map((last) => ({
    chain_id: last.chainId,
    from_seq: known.get(last.chainId)!.seq,
    from_hash: known.get(last.chainId)!.hash,
    seq: last.seq,
    prev_hash: last.prevHash,
    hash: last.hash,
  }));
  const inserted = await APPEND_AFTER_HEADS(db, {
    heads: JSON.stringify(moves),
    events: JSON.stringify(linked.map(recordOf)),
  });
  const stored = new Set(inserted.map((row) => row.id));
  return {
    rows: linked.filter((row) => stored.has(row.id)),
    stale: drafts.filter((draft) => !stored.has(draft.id)),
  };
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
  const rows = linkAfter(tips, fresh);
  await insertEvents(tx, rows);
  await tx.execute(sql`
    update ${auditChains} as c set seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
    from json_to_recordset(${JSON.stringify(lastOfEachChain(rows).map((row) => ({ chain_id: row.chainId, seq: row.seq, prev_hash: row.prevHash, hash: row.hash })))}::json)
      as v(chain_id uuid, seq bigint, prev_hash text, hash text)
    where c.chain_id = v.chain_id`);
  return rows;
}
