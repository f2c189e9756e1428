import type { Logger } from "pino";
import type { Database } from "../../db/client.js";
import type { AuditEventRow } from "../../db/schema.js";
import { appendToChains } from "./chain.js";
import { isDataError } from "../../db/sql-state.js";
import { type AuditEventDraft, unstorablePlaceholder } from "./event.js";

export interface AuditBufferOptions {
  /** Operations in flight plus events waiting to be written; above it operations are refused. */
  capacity: number;
  flushMs: number;
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

const MAX_RETRY_DELAY_MS = 5_000;
/**
 * A write taking longer is given up and retried (a connection lost mid-write can leave the
 * driver's promise pending forever). If it commits after all, the retry skips its events.
 */
const WRITE_TIMEOUT_MS = 15_000;
const SHUTDOWN_FLUSH_MS = 10_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`audit write timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The write-behind buffer of query events. Each operation reserves a slot when it is admitted
 * and gives it back once its event is stored, so the buffer never holds more than `capacity`
 * events: when full, new operations are refused (the server does not serve unaudited reads).
 * Events are written in batches at least every flushMs; a failed write keeps them, in order,
 * and retries with a capped backoff.
 */
export class AuditBuffer {
  private readonly queue: AuditEventDraft[] = [];
  private reserved = 0;
  private flushing: Promise<void> | undefined;
  private flushRequested = false;
  private failures = 0;
  private retryAt = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly batchSize: number;

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

  /** Queues the event of an operation that holds a slot. */
  push(draft: AuditEventDraft): void {
    this.queue.push(draft);
    if (this.queue.length >= this.batchSize) void this.flush();
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
   * queued before the call is written by the time it resolves. Events queued during a pass wait
   * for the next flush (the timer, or a full batch), so under load the buffer writes full
   * batches instead of chasing each new event with a transaction.
   */
  flush(): Promise<void> {
    this.flushRequested = true;
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.flushRequested) {
      this.flushRequested = false;
      await this.writeQueued();
      if (this.failures > 0) return; // kept for the retry the timer makes after the backoff
    }
  }

  private async writeQueued(): Promise<void> {
    if (this.failures > 0 && Date.now() < this.retryAt) return;
    let remaining = this.queue.length;
    while (remaining > 0) {
      const batch = this.queue.slice(0, Math.min(this.batchSize, remaining));
      let rows: AuditEventRow[];
      try {
        // Only a write that failed (or timed out) can have committed unseen, and it left failures
        // above 0 until a write succeeds: a batch no write has tried skips the "stored?" lookup.
        try {
          rows = await this.write(batch, this.failures === 0);
        } catch (error) {
          if (!isDataError(error)) throw error;
          rows = await this.writeSeparately(batch); // one event refused: not the others with it
        }
      } catch (error) {
        this.failures += 1;
        this.retryAt =
          Date.now() +
          Math.min(this.options.flushMs * 2 ** (this.failures - 1), MAX_RETRY_DELAY_MS);
        this.logger.warn(
          { err: error, pending: this.queue.length, failures: this.failures },
          "audit events could not be written; kept for retry",
        );
        return;
      }
      if (this.failures > 0) {
        this.logger.info({ failures: this.failures }, "audit events written again after failures");
      }
      this.failures = 0;
      this.queue.splice(0, batch.length);
      remaining -= batch.length;
      this.reserved = Math.max(0, this.reserved - batch.length);
      this.options.onWritten(rows);
    }
  }

  private write(drafts: AuditEventDraft[], firstAttempt: boolean): Promise<AuditEventRow[]> {
    return withTimeout(
      this.db.transaction((tx) => appendToChains(tx, drafts, { firstAttempt })),
      WRITE_TIMEOUT_MS,
    );
  }

  /**
   * Writes a batch the database refused one event at a time: an event it refuses again is
   * stored as a placeholder (its outcome and who, when, where; see unstorablePlaceholder), and
   * if even that is refused, it goes to the structured log only. Any other failure (the database
   * is unreachable) leaves the whole batch for the retry, which skips what was stored.
   */
  private async writeSeparately(batch: AuditEventDraft[]): Promise<AuditEventRow[]> {
    const rows: AuditEventRow[] = [];
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
        this.logger.error(
          { err: error, audit: { ...draft, variables: undefined, userAgent: undefined } },
          "audit event and its placeholder refused by the database: recorded in this log only",
        );
      }
    }
    return rows;
  }

  /**
   * Stops the timer and writes everything still queued, retrying for a while. Events that could
   * not be stored are logged (as the SIEM copy) so they are not silently lost.
   */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const deadline = Date.now() + SHUTDOWN_FLUSH_MS;
    while (this.queue.length > 0 && Date.now() < deadline) {
      this.retryAt = 0;
      await this.flush();
      if (this.queue.length > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    for (const draft of this.queue.splice(0)) {
      this.logger.error(
        { audit: { ...draft, variables: undefined, userAgent: undefined } },
        "audit event not written before shutdown",
      );
    }
  }
}
