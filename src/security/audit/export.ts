import { and, asc, desc, eq, gt, gte, lt, lte, min } from "drizzle-orm";
import type { Database } from "../../db/client.js";
import {
  type AuditCheckpointRow,
  auditCheckpoints,
  type AuditEventRow,
  auditEvents,
} from "../../db/schema.js";
import { checkpointRecord } from "./checkpoint.js";
import { canonicalJson } from "./event.js";

/*
 * An export of one chain as JSON Lines, for an auditor to verify offline (verify-export.ts):
 * the checkpoint the export starts from (none when it starts at the chain's first event), then
 * every event in chain order, each checkpoint right after the event it signed, up to the
 * chain's latest checkpoint. Every line is the canonical JSON of its record, so that any change
 * to a byte of it shows.
 */

/** An event as one line of an export: every column, canonical. */
export const eventRecord = (event: AuditEventRow) => ({
  type: "event" as const,
  ...event,
  at: event.at.toISOString(),
});

export const exportLine = (
  record: ReturnType<typeof eventRecord> | ReturnType<typeof checkpointRecord>,
): string => `${canonicalJson(record)}\n`;

const PAGE_SIZE = 1000;

export interface ExportRange {
  chainId: string;
  /** Export from the checkpoint before the first event at or after this time. */
  since?: Date;
}

/** The checkpoint an export from `since` starts at: the last one before its first event. */
async function startingCheckpoint(
  db: Database,
  chainId: string,
  since: Date | undefined,
  end: AuditCheckpointRow,
): Promise<AuditCheckpointRow | undefined> {
  if (!since) return undefined;
  const [first] = await db
    .select({ seq: min(auditEvents.seq) })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.chainId, chainId),
        gte(auditEvents.at, since),
        lte(auditEvents.seq, end.seq),
      ),
    );
  if (first?.seq == null) return end; // nothing since: the latest checkpoint alone
  const [before] = await db
    .select()
    .from(auditCheckpoints)
    .where(and(eq(auditCheckpoints.chainId, chainId), lt(auditCheckpoints.seq, Number(first.seq))))
    .orderBy(desc(auditCheckpoints.seq))
    .limit(1);
  return before;
}

/**
 * The lines of the export of a chain, up to its latest checkpoint (none if it has none yet: a
 * caller checkpoints the chain first). Reads one snapshot, so concurrent writers change nothing.
 */
export async function* exportChain(db: Database, range: ExportRange): AsyncGenerator<string> {
  const { chainId } = range;
  const [end] = await db
    .select()
    .from(auditCheckpoints)
    .where(eq(auditCheckpoints.chainId, chainId))
    .orderBy(desc(auditCheckpoints.seq))
    .limit(1);
  if (!end) return;
  const start = await startingCheckpoint(db, chainId, range.since, end);
  if (start) yield exportLine(checkpointRecord(start));
  let after = start?.seq ?? 0;
  while (after < end.seq) {
    const events = await db
      .select()
      .from(auditEvents)
      .where(
        and(
          eq(auditEvents.chainId, chainId),
          gt(auditEvents.seq, after),
          lte(auditEvents.seq, end.seq),
        ),
      )
      .orderBy(asc(auditEvents.seq))
      .limit(PAGE_SIZE);
    if (events.length === 0) break; // the chain lost events: the verifier will say where
    const upTo = events.at(-1)!.seq;
    const checkpoints = await db
      .select()
      .from(auditCheckpoints)
      .where(
        and(
          eq(auditCheckpoints.chainId, chainId),
          gt(auditCheckpoints.seq, after),
          lte(auditCheckpoints.seq, upTo),
        ),
      )
      .orderBy(asc(auditCheckpoints.seq));
    let next = 0;
    for (const event of events) {
      yield exportLine(eventRecord(event));
      while (checkpoints[next] && checkpoints[next]!.seq <= event.seq) {
        yield exportLine(checkpointRecord(checkpoints[next]!));
        next += 1;
      }
    }
    after = upTo;
  }
}
