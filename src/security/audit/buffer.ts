import type { Logger } from "pino";
import type { Database } from "../../db/client.js";
import type { AuditEventRow } from "../../db/schema.js";
import { appendAfterKnownHeads, appendEvent, appendToChains, type ChainHead } from "./chain.js";
import { isDataError } from "../../db/sql-state.js";
import { ErrorCode } from "../../graphql/errors.js";
import { withTimeout } from "../../timeout.js";
import { type AuditEventDraft, unstorablePlaceholder } from "./event.js";

export interface AuditBufferOptions {
  /** Operations in flight plus events waiting to be written; above it operations are refused. */
  capacity: number;
  /** The first retry delay after a failed write (doubling to a second), and the timer's tick. */
  flushMs: number;
  /** How long a caller waits for its event to be stored before it is told "not in time". */
  durableWaitMs: number;
  /** How long close() retries the events still queued at shutdown before logging them. */
  shutdownFlushMs: number;
  /** Events per INSERT (and per chain-head lock). */
  batchSize?: number;
  /** Called with the rows of each committed batch, in chain order. */
  onWritten(rows: AuditEventRow[]): void;
}

export interface AuditBufferStatus {
  /** Events waiting to be written. */
  pending: number;
  /** Slots held by operations in flight and waiting events. */
  reserved: number;
  capacity: number;
  /** True when the last write failed (database unavailable); events are kept and retried. */
  failing: boolean;
}

/** Bounded, so that the first write after the database is back comes within a second. */
const MAX_RETRY_DELAY_MS = 1_000;
/**
 * A write taking longer is given up and retried (a connection lost mid-write can leave the
 * driver's promise pending forever). If it commits after all, the retry skips its events.
 */
const WRITE_TIMEOUT_MS = 15_000;
const STILL_FAILING_LOG_MS = 10_000;
/** Chains whose head is remembered (one per organization that wrote lately). */
const KNOWN_HEADS = 10_000;

/** Records in the event that its operation was answered 503 instead (its draft is not writing). */
function markAnswered503(entry: QueuedEvent): void {
  const codes = entry.draft.errorCodes;
  if (entry.draft.outcome === "ERROR" && codes.includes(ErrorCode.SERVICE_UNAVAILABLE)) return;
  entry.draft = {
    ...entry.draft,
    outcome: "ERROR",
    errorCodes: [...new Set([...codes, ErrorCode.SERVICE_UNAVAILABLE])],
  };
}

/** A queued event and the caller waiting until it is stored. */
interface QueuedEvent {
  draft: AuditEventDraft;
  /** Part of the write under way: its draft is being hashed and stored as it is. */
  writing: boolean;
  /** Its operation was answered 503 (not in time): the draft must say so once it is not writing. */
  answered503: boolean;
  settle(stored: boolean): void;
}

/**
 * The group commit of query events. Each operation reserves a slot when it is admitted and
 * gives it back once its event is stored, so the buffer never holds more than `capacity` events:
 * when full, new operations are refused (the server does not serve unaudited reads). A queued
 * event is written at once if no write is under way, else with every event queued meanwhile in
 * the next write: one transaction per batch, however many operations wait on it. The operation
 * waits for its event (push resolves true) before it answers, so no response is sent for an
 * event a crash could lose; past durableWaitMs it is told false and answers 503 instead, and
 * its event, kept for the retry, says so. A failed write keeps the events, in order, and retries
 * with a backoff capped at a second.
 */
export class AuditBuffer {
  private readonly queue: QueuedEvent[] = [];
  private reserved = 0;
  private flushing: Promise<void> | undefined;
  private flushRequested = false;
  private failures = 0;
  private retryAt = 0;
  private warnedAt = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly batchSize: number;
  /** Each chain's head as this instance last stored or saw it; possibly moved since. */
  private readonly heads = new Map<string, ChainHead>();

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly options: AuditBufferOptions,
  ) {
    this.batchSize = options.batchSize ?? 500;
    this.timer = setInterval(() => void this.flush(), options.flushMs);
    this.timer.unref();
  }

  /** Reserves one slot per operation; false when the buffer cannot take them all. */
  tryReserve(operations: number): boolean {
    if (this.reserved + operations > this.options.capacity) return false;
    this.reserved += operations;
    return true;
  }

  /** Gives back a slot whose event was stored elsewhere (a mutation's own transaction). */
  release(): void {
    this.reserved = Math.max(0, this.reserved - 1);
  }

  /**
   * Queues the event of an operation that holds a slot and starts its write: resolves true once
   * it is stored, or false after durableWaitMs (the caller must not answer as if audited; the
   * event, still kept for the retry, then records that the operation was answered 503).
   */
  push(draft: AuditEventDraft): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let settled = false;
      const timer = setTimeout(() => {
        entry.answered503 = true;
        if (!entry.writing) markAnswered503(entry);
        entry.settle(false);
      }, this.options.durableWaitMs);
      const entry: QueuedEvent = {
        draft,
        writing: false,
        answered503: false,
        settle: (stored) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(stored);
        },
      };
      this.queue.push(entry);
      void this.flush();
    });
  }

  /** Remembers the heads these stored rows (of any path: a mutation's too) moved their chains to. */
  sawStored(rows: readonly AuditEventRow[]): void {
    for (const row of rows) {
      const known = this.heads.get(row.chainId);
      if (known && known.seq >= row.seq) continue;
      this.heads.delete(row.chainId);
      this.heads.set(row.chainId, { seq: row.seq, hash: row.hash });
    }
    while (this.heads.size > KNOWN_HEADS) this.heads.delete(this.heads.keys().next().value!);
  }

  get full(): boolean {
    return this.reserved >= this.options.capacity;
  }

  status(): AuditBufferStatus {
    return {
      pending: this.queue.length,
      reserved: this.reserved,
      capacity: this.options.capacity,
      failing: this.failures > 0,
    };
  }

  /**
   * Writes what is queued now, one writer at a time; resolves when done or after a failure.
   * A flush asked for while a write is running gets a pass of its own after it, so everything
   * queued before the call is written by the time it resolves, and events queued during a write
   * go together in the next one.
   */
  flush(): Promise<void> {
    this.flushRequested = true;
    this.flushing ??= this.drain();
    return this.flushing;
  }

  /**
   * Writes until no flush is asked for. It lets go of `flushing` in the same step as it last
   * finds none asked for: a flush asked for a moment later (one microtask, as a promise's
   * .finally would leave) must start a drain of its own, not join one that has ended, or its
   * event waits for the timer.
   */
  private async drain(): Promise<void> {
    try {
      while (this.flushRequested) {
        this.flushRequested = false;
        await this.writeQueued();
        if (this.failures > 0) return; // kept for the retry the timer makes after the backoff
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async writeQueued(): Promise<void> {
    if (this.failures > 0 && Date.now() < this.retryAt) return;
    let remaining = this.queue.length;
    while (remaining > 0) {
      const batch = this.queue.slice(0, Math.min(this.batchSize, remaining));
      for (const entry of batch) entry.writing = true;
      const drafts = batch.map((entry) => entry.draft);
      let written: { rows: AuditEventRow[]; lost: Set<string> };
      try {
        // Only a write that failed (or timed out) can have committed unseen, and it left failures
        // above 0 until a write succeeds: a batch no write has tried skips the "stored?" lookup.
        try {
          written = { rows: await this.write(drafts, this.failures === 0), lost: new Set() };
        } catch (error) {
          if (!isDataError(error)) throw error;
          written = await this.writeSeparately(drafts); // one event refused: not the others with it
        }
      } catch (error) {
        for (const entry of batch) {
          entry.writing = false;
          if (entry.answered503) markAnswered503(entry); // its time ran out during the write
        }
        this.failures += 1;
        this.retryAt =
          Date.now() +
          Math.min(this.options.flushMs * 2 ** (this.failures - 1), MAX_RETRY_DELAY_MS);
        // the first failure, then one line per interval while it lasts (retries are frequent)
        if (this.failures === 1 || Date.now() - this.warnedAt >= STILL_FAILING_LOG_MS) {
          this.warnedAt = Date.now();
          this.logger.warn(
            { err: error, pending: this.queue.length, failures: this.failures },
            "audit events could not be written; kept for retry",
          );
        }
        return;
      }
      if (this.failures > 0) {
        this.logger.info({ failures: this.failures }, "audit events written again after failures");
      }
      this.failures = 0;
      this.queue.splice(0, batch.length);
      remaining -= batch.length;
      this.reserved = Math.max(0, this.reserved - batch.length);
      for (const entry of batch) entry.settle(!written.lost.has(entry.draft.id));
      this.options.onWritten(written.rows);
    }
  }

  private write(drafts: AuditEventDraft[], firstAttempt: boolean): Promise<AuditEventRow[]> {
    return withTimeout(this.append(drafts, firstAttempt), WRITE_TIMEOUT_MS, "audit write").then(
      (rows) => {
        this.sawStored(rows);
        return rows;
      },
    );
  }

  /**
   * A batch no write has tried, of chains whose heads this instance knows, goes in one statement
   * (appendAfterKnownHeads); one event alone in the mutations' one-statement append, the database
   * linking it; either without BEGIN and COMMIT, round trips fewer on the path every response
   * waits on. The rest, and a retry (which must skip what a lost acknowledgement hid), lock the
   * heads in a transaction.
   */
  private async append(drafts: AuditEventDraft[], firstAttempt: boolean): Promise<AuditEventRow[]> {
    if (firstAttempt && drafts.length === 1) return [(await appendEvent(this.db, drafts[0]!)).row];
    let rows: AuditEventRow[] = [];
    let rest: readonly AuditEventDraft[] = drafts;
    if (firstAttempt && drafts.every((draft) => this.heads.has(draft.chainId))) {
      const appended = await appendAfterKnownHeads(this.db, drafts, this.heads);
      rows = appended.rows;
      rest = appended.stale;
      for (const draft of rest) this.heads.delete(draft.chainId);
      if (rest.length === 0) return rows;
    }
    const locked = await this.db.transaction((tx) => appendToChains(tx, rest, { firstAttempt }));
    return [...rows, ...locked];
  }

  /**
   * Writes a batch the database refused one event at a time: an event it refuses again is
   * stored as a placeholder (its outcome and who, when, where; see unstorablePlaceholder), and
   * if even that is refused, it goes to the structured log only (its id is among `lost`). Any
   * other failure (the database is unreachable) leaves the whole batch for the retry, which skips
   * what was stored.
   */
  private async writeSeparately(
    batch: AuditEventDraft[],
  ): Promise<{ rows: AuditEventRow[]; lost: Set<string> }> {
    const rows: AuditEventRow[] = [];
    const lost = new Set<string>();
    for (const draft of batch) {
      try {
        rows.push(...(await this.write([draft], false)));
        continue;
      } catch (error) {
        if (!isDataError(error)) throw error;
        this.logger.error(
          { err: error, eventId: draft.id, requestId: draft.requestId },
          "audit event refused by the database: a placeholder is stored in its place",
        );
      }
      try {
        rows.push(...(await this.write([unstorablePlaceholder(draft)], false)));
      } catch (error) {
        if (!isDataError(error)) throw error;
        lost.add(draft.id);
        this.logger.error(
          { err: error, audit: { ...draft, variables: undefined, userAgent: undefined } },
          "audit event and its placeholder refused by the database: recorded in this log only",
        );
      }
    }
    return { rows, lost };
  }

  /**
   * Stops the timer and writes everything still queued, retrying for a while. Events that could
   * not be stored are logged (as the SIEM copy) so they are not silently lost; resolves false
   * then, so that the process can exit with a failure.
   */
  async close(): Promise<boolean> {
    clearInterval(this.timer);
    const deadline = Date.now() + this.options.shutdownFlushMs;
    while (this.queue.length > 0 && Date.now() < deadline) {
      this.retryAt = 0;
      await this.flush();
      if (this.queue.length > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const unwritten = this.queue.splice(0);
    for (const entry of unwritten) {
      entry.settle(false);
      const { draft } = entry;
      this.logger.error(
        { audit: { ...draft, variables: undefined, userAgent: undefined } },
        "audit event not written before shutdown",
      );
    }
    return unwritten.length === 0;
  }
}
