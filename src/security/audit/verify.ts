import { and, asc, eq, gt, lte, notInArray, sql } from "drizzle-orm";
import type { Database } from "../../db/client.js";
import {
  type AuditCheckpointRow,
  auditCheckpoints,
  auditChains,
  type AuditEventRow,
  auditEvents,
} from "../../db/schema.js";
import { checkpointHash, organizationOfChain, signatureIsValid } from "./checkpoint.js";
import { expectedHash, GENESIS_HASH } from "./event.js";
import type { TrustedKeys } from "./signing.js";

export interface ChainProblem {
  kind: "altered" | "removed" | "inserted" | "checkpoint";
  chainId: string;
  /** The first event concerned (for "removed": the first missing seq). */
  seq: number;
  id: string | null;
  message: string;
}

export type ChainReport =
  | { intact: true; chains: number; events: number; checkpoints: number }
  | { intact: false; events: number; problem: ChainProblem };

/** A point of a chain: an event, or where the chain starts (seq 0, or a checkpoint's). */
export interface Link {
  seq: number;
  hash: string;
  id: string | null;
}

export const genesisLink = (): Link => ({ seq: 0, hash: GENESIS_HASH, id: null });

/**
 * Walks one chain's events in seq order from a known point (its start, or a checkpoint) and
 * says of each whether it fits: it must hash to its stored hash by its chain's rules, follow the
 * previous seq, and chain to the previous event's hash. Used on the database and on an export.
 */
export class ChainWalk {
  private previous: Link;
  private beforePrevious: Link | undefined;
  events = 0;

  constructor(
    readonly chainId: string,
    from: Link = genesisLink(),
  ) {
    this.previous = from;
  }

  /** The last event that fitted (or the starting point). */
  get head(): Link {
    return this.previous;
  }

  /** The problem with the next event, or undefined if it fits (and the walk moves on). */
  next(event: AuditEventRow): ChainProblem | undefined {
    const problem = this.check(event);
    if (problem) return problem;
    this.events += 1;
    this.beforePrevious = this.previous;
    this.previous = { seq: event.seq, hash: event.hash, id: event.id };
    return undefined;
  }

  private check(event: AuditEventRow): ChainProblem | undefined {
    const { previous, beforePrevious } = this;
    const at = (kind: ChainProblem["kind"], link: Link, message: string): ChainProblem => ({
      kind,
      chainId: this.chainId,
      seq: link.seq,
      id: link.id,
      message,
    });
    const here = { seq: event.seq, hash: event.hash, id: event.id };
    if (event.chainId !== this.chainId) {
      return at("inserted", here, `event seq ${event.seq} belongs to another chain`);
    }
    const linked = event.prevHash === previous.hash;
    if (!linked && beforePrevious && event.prevHash === beforePrevious.hash) {
      return at("inserted", previous, `event seq ${previous.seq} was inserted into the chain`);
    }
    if (expectedHash(event) !== event.hash) {
      return at(
        "altered",
        here,
        `event seq ${event.seq} was altered: it no longer matches its hash`,
      );
    }
    if (!linked && event.seq > previous.seq + 1) {
      return {
        kind: "removed",
        chainId: this.chainId,
        seq: previous.seq + 1,
        id: null,
        message: `events seq ${previous.seq + 1} to ${event.seq - 1} were removed`,
      };
    }
    if (!linked) {
      return previous.id === null
        ? at("inserted", here, `event seq ${event.seq} does not chain to the start of the chain`)
        : at(
            "altered",
            previous,
            `event seq ${previous.seq} was altered (and re-hashed): event seq ${event.seq} no longer chains to it`,
          );
    }
    if (event.seq !== previous.seq + 1) {
      return at(
        "altered",
        here,
        `event seq ${event.seq} was renumbered (expected ${previous.seq + 1})`,
      );
    }
    return undefined;
  }
}

/**
 * Follows one chain's checkpoints in order and says of each what is wrong with it, if anything:
 * it must be signed by a trusted key, name the previous checkpoint's hash (when that is known:
 * an export that starts at a checkpoint cannot know what came before it), and state the hash the
 * chain's event at its seq has.
 */
export class CheckpointTrail {
  checkpoints = 0;
  private last: AuditCheckpointRow | undefined;

  constructor(
    readonly chainId: string,
    private readonly keys: TrustedKeys,
    /** The hash the next checkpoint must name as previous; null when not known (see above). */
    private previous: string | null = GENESIS_HASH,
  ) {}

  /** The last checkpoint that fitted. */
  get head(): AuditCheckpointRow | undefined {
    return this.last;
  }

  /** The problem with the next checkpoint (given the hash of the chain's event at its seq). */
  next(checkpoint: AuditCheckpointRow, eventHash: string | undefined): string | undefined {
    const { seq } = checkpoint;
    if (checkpoint.chainId !== this.chainId) return `checkpoint seq ${seq} is of another chain`;
    if (checkpoint.orgId !== organizationOfChain(this.chainId)) {
      return `checkpoint seq ${seq} names another organization`;
    }
    if (!this.keys.knows(checkpoint.keyId)) {
      return `checkpoint seq ${seq} is signed by a key not trusted here (key id ${checkpoint.keyId})`;
    }
    if (!signatureIsValid(this.keys, checkpoint)) {
      return `checkpoint seq ${seq} does not match its signature`;
    }
    if (this.previous !== null && checkpoint.previous !== this.previous) {
      return `checkpoint seq ${seq} does not follow the previous checkpoint (one was removed or replaced)`;
    }
    if (this.last && seq <= this.last.seq) {
      return `checkpoint seq ${seq} does not come after the previous checkpoint (seq ${this.last.seq})`;
    }
    if (eventHash === undefined) {
      return `checkpoint seq ${seq} names an event the chain does not have (events were removed)`;
    }
    if (eventHash !== checkpoint.hash) {
      return `the chain's event seq ${seq} is not the one checkpoint seq ${seq} signed`;
    }
    this.previous = checkpointHash(checkpoint);
    this.last = checkpoint;
    this.checkpoints += 1;
    return undefined;
  }
}

const PAGE_SIZE = 1000;

/**
 * Walks every audit chain of the database and reports the first event that was altered, removed
 * or inserted, or the first checkpoint that does not hold (a bad signature, a broken link, an
 * event it signed that is not there any more); each chain's last event must be its head. One
 * snapshot for everything: writers keep appending (and moving heads) meanwhile.
 */
export function verifyChains(db: Database, keys: TrustedKeys): Promise<ChainReport> {
  return db.transaction((snapshot) => walkAll(snapshot, keys), {
    isolationLevel: "repeatable read",
    accessMode: "read only",
  });
}

const broken = (
  events: number,
  kind: ChainProblem["kind"],
  chainId: string,
  seq: number,
  id: string | null,
  message: string,
): ChainReport => ({ intact: false, events, problem: { kind, chainId, seq, id, message } });

async function walkAll(db: Database, keys: TrustedKeys): Promise<ChainReport> {
  const heads = await db.select().from(auditChains).orderBy(asc(auditChains.chainId));
  let events = 0;
  let checkpoints = 0;
  for (const head of heads) {
    const report = await walkChain(db, keys, head);
    events += report.events;
    if (!report.intact) return { ...report, events };
    checkpoints += report.checkpoints;
  }
  // events or checkpoints of a chain without a head were written behind the writers' back
  const headless = (chainId: typeof auditEvents.chainId | typeof auditCheckpoints.chainId) =>
    heads.length > 0
      ? notInArray(
          chainId,
          heads.map((h) => h.chainId),
        )
      : sql`true`;
  const [orphan] = await db
    .select({ id: auditEvents.id, chainId: auditEvents.chainId, seq: auditEvents.seq })
    .from(auditEvents)
    .where(headless(auditEvents.chainId))
    .limit(1);
  if (orphan) {
    const message = `event seq ${orphan.seq} belongs to a chain that has no head`;
    return broken(events, "inserted", orphan.chainId, orphan.seq, orphan.id, message);
  }
  const [stray] = await db
    .select()
    .from(auditCheckpoints)
    .where(headless(auditCheckpoints.chainId))
    .limit(1);
  if (stray) {
    const message = `checkpoint seq ${stray.seq} is of a chain that has no events (they were removed)`;
    return broken(events, "checkpoint", stray.chainId, stray.seq, stray.id, message);
  }
  return { intact: true, chains: heads.length, events, checkpoints };
}

async function walkChain(
  db: Database,
  keys: TrustedKeys,
  head: { chainId: string; seq: number; hash: string },
): Promise<ChainReport> {
  const { chainId } = head;
  const walk = new ChainWalk(chainId);
  const trail = new CheckpointTrail(chainId, keys);
  const checkpointsUpTo = (from: number, to: number | undefined) =>
    db
      .select()
      .from(auditCheckpoints)
      .where(
        and(
          eq(auditCheckpoints.chainId, chainId),
          gt(auditCheckpoints.seq, from),
          to === undefined ? undefined : lte(auditCheckpoints.seq, to),
        ),
      )
      .orderBy(asc(auditCheckpoints.seq));
  const checkCheckpoints = async (
    from: number,
    to: number | undefined,
    hashes: Map<number, string>,
  ) => {
    for (const checkpoint of await checkpointsUpTo(from, to)) {
      const message = trail.next(checkpoint, hashes.get(checkpoint.seq));
      if (message) {
        return broken(walk.events, "checkpoint", chainId, checkpoint.seq, checkpoint.id, message);
      }
    }
    return undefined;
  };
  for (;;) {
    const from = walk.head.seq;
    const page = await db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.chainId, chainId), gt(auditEvents.seq, from)))
      .orderBy(asc(auditEvents.seq))
      .limit(PAGE_SIZE);
    const hashes = new Map<number, string>();
    for (const event of page) {
      const problem = walk.next(event);
      if (problem) return { intact: false, events: walk.events, problem };
      hashes.set(event.seq, event.hash);
    }
    const last = page.length < PAGE_SIZE;
    // the last page's range is open: a checkpoint past the last event names a removed one
    const problem = await checkCheckpoints(from, last ? undefined : walk.head.seq, hashes);
    if (problem) return problem;
    if (last) break;
  }
  const last = walk.head;
  if (last.seq > head.seq) {
    const [first] = await db
      .select({ id: auditEvents.id })
      .from(auditEvents)
      .where(and(eq(auditEvents.chainId, chainId), eq(auditEvents.seq, head.seq + 1)));
    const message = `event seq ${head.seq + 1} and after were appended behind the chain head (seq ${head.seq})`;
    return broken(walk.events, "inserted", chainId, head.seq + 1, first?.id ?? null, message);
  }
  if (last.seq < head.seq || last.hash !== head.hash) {
    const message = `events seq ${last.seq + 1} to ${head.seq} were removed from the end of the chain`;
    return broken(walk.events, "removed", chainId, last.seq + 1, null, message);
  }
  return { intact: true, chains: 1, events: walk.events, checkpoints: trail.checkpoints };
}
