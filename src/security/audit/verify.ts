import { asc, eq, gt } from "drizzle-orm";
import type { Database } from "../../db/client.js";
import { auditChainHead, type AuditEventRow, auditEvents } from "../../db/schema.js";
import { GENESIS_HASH, hashEvent } from "./event.js";

export interface ChainProblem {
  kind: "altered" | "removed" | "inserted";
  /** The first event concerned (for "removed": the first missing seq). */
  seq: number;
  id: string | null;
  message: string;
}

export type ChainReport =
  | { intact: true; events: number; headSeq: number; headHash: string }
  | { intact: false; events: number; problem: ChainProblem };

const PAGE_SIZE = 1000;

type Link = Pick<AuditEventRow, "seq" | "hash"> & { id: string | null };

/**
 * Walks the audit chain in seq order and reports the first event that was altered, removed or
 * inserted: each event must hash to its stored hash, follow the previous seq, and chain to the
 * previous event's hash; the last event must be the chain head.
 */
export function verifyChain(db: Database): Promise<ChainReport> {
  // One snapshot for the events and the head: writers keep appending (and moving the head in
  // the same transaction) while the chain is walked.
  return db.transaction((snapshot) => walkChain(snapshot), {
    isolationLevel: "repeatable read",
    accessMode: "read only",
  });
}

async function walkChain(db: Database): Promise<ChainReport> {
  const genesis: Link = { seq: 0, hash: GENESIS_HASH, id: null };
  let previous = genesis;
  let beforePrevious: Link | undefined;
  let events = 0;
  for (;;) {
    const page = await db
      .select()
      .from(auditEvents)
      .where(gt(auditEvents.seq, previous.seq))
      .orderBy(asc(auditEvents.seq))
      .limit(PAGE_SIZE);
    for (const event of page) {
      const problem = checkLink(event, previous, beforePrevious);
      if (problem) return { intact: false, events, problem };
      events += 1;
      beforePrevious = previous;
      previous = event;
    }
    if (page.length < PAGE_SIZE) break;
  }
  const [head] = await db.select().from(auditChainHead).where(eq(auditChainHead.id, 1));
  const headSeq = head?.seq ?? 0;
  if (previous.seq > headSeq) {
    const [first] = await db
      .select({ id: auditEvents.id })
      .from(auditEvents)
      .where(eq(auditEvents.seq, headSeq + 1));
    return {
      intact: false,
      events,
      problem: {
        kind: "inserted",
        seq: headSeq + 1,
        id: first?.id ?? null,
        message: `event seq ${headSeq + 1} and after were appended behind the chain head (seq ${headSeq})`,
      },
    };
  }
  if (previous.seq < headSeq || (head && previous.hash !== head.hash)) {
    return {
      intact: false,
      events,
      problem: {
        kind: "removed",
        seq: previous.seq + 1,
        id: null,
        message: `events seq ${previous.seq + 1} to ${headSeq} were removed from the end of the chain`,
      },
    };
  }
  return { intact: true, events, headSeq, headHash: previous.hash };
}

function checkLink(
  event: AuditEventRow,
  previous: Link,
  beforePrevious: Link | undefined,
): ChainProblem | undefined {
  const at = (kind: ChainProblem["kind"], link: Link, message: string): ChainProblem => ({
    kind,
    seq: link.seq,
    id: link.id,
    message,
  });
  const linked = event.prevHash === previous.hash;
  if (!linked && beforePrevious && event.prevHash === beforePrevious.hash) {
    return at("inserted", previous, `event seq ${previous.seq} was inserted into the chain`);
  }
  if (hashEvent(event) !== event.hash) {
    return at(
      "altered",
      event,
      `event seq ${event.seq} was altered: it no longer matches its hash`,
    );
  }
  if (!linked && event.seq > previous.seq + 1) {
    return {
      kind: "removed",
      seq: previous.seq + 1,
      id: null,
      message: `events seq ${previous.seq + 1} to ${event.seq - 1} were removed`,
    };
  }
  if (!linked) {
    return previous.id === null
      ? at("inserted", event, `event seq ${event.seq} does not chain to the start of the log`)
      : at(
          "altered",
          previous,
          `event seq ${previous.seq} was altered (and re-hashed): event seq ${event.seq} no longer chains to it`,
        );
  }
  if (event.seq !== previous.seq + 1) {
    return at(
      "altered",
      event,
      `event seq ${event.seq} was renumbered (expected ${previous.seq + 1})`,
    );
  }
  return undefined;
}
