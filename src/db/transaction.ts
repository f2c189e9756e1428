import type { Database } from "./client.js";

/** A transaction kept open while an operation runs, finished by the caller later. */
interface HeldTransaction {
  /** Every statement run through it is part of the transaction. */
  db: Database;
  /** Runs the last statements and commits; rejects, with everything rolled back, if any fails. */
  finish<T>(last: (tx: Database) => Promise<T>): Promise<T>;
}

/**
 * Opens a transaction and hands it over without closing it: the callback of db.transaction
 * waits on a deferred promise until finish() supplies the last statements. Works on a pool
 * (postgres-js) and on a single connection (PGlite), where the caller must not wait on the base
 * handle while the transaction is held.
 */
async function holdTransaction(db: Database): Promise<HeldTransaction> {
  let handOver!: (tx: Database) => void;
  const opened = new Promise<Database>((resolve) => (handOver = resolve));
  let supplyLast!: (last: (tx: Database) => Promise<unknown>) => void;
  const last = new Promise<(tx: Database) => Promise<unknown>>((resolve) => (supplyLast = resolve));
  const committed = db.transaction(async (tx) => {
    handOver(tx);
    return (await last)(tx);
  });
  const tx = await Promise.race([
    opened,
    committed.then(() => Promise.reject(new Error("transaction ended before it was used"))),
  ]);
  return {
    db: tx,
    finish: <T>(work: (tx: Database) => Promise<T>) => {
      supplyLast(work);
      return committed as Promise<T>;
    },
  };
}

/** A write asked of a transaction that has already been finished (the operation is over). */
export class TransactionEnded extends Error {
  override name = "TransactionEnded";
}

/**
 * The transaction of one mutation operation. Nothing is opened until the first write asks for
 * it, so whatever the mutation does before (hash a password, compare a secret, wait for a
 * limiter) holds no database connection. Once open, it stays open while the operation's later
 * statements run in it, and it is finished exactly once, at the end of the operation: committed
 * with the statements the end adds (the operation's audit event), or rolled back as a whole.
 */
export class OperationTransaction {
  private held: Promise<HeldTransaction> | undefined;
  private ended = false;
  private rolledBack = false;

  /** `opened` is told the transaction's executor when the first write opens it. */
  constructor(
    private readonly database: Database,
    private readonly opened: (tx: Database) => void,
  ) {}

  /** The transaction to write in, opened on first use; refused once the operation has ended. */
  write(): Promise<Database> {
    if (this.ended) return Promise.reject(new TransactionEnded("the operation has ended"));
    this.held ??= holdTransaction(this.database).then((held) => {
      if (!this.ended) this.opened(held.db);
      return held;
    });
    return this.held.then((held) => held.db);
  }

  /** True once rollback() has run: nothing of the operation was or will be committed. */
  get abandoned(): boolean {
    return this.rolledBack;
  }

  /**
   * Runs `last` in the transaction and commits. A mutation that wrote nothing still gets a
   * transaction of its own for `last`, so its audit event is as durable as any other. Rejects,
   * with everything rolled back, if any statement fails.
   */
  async commit<T>(last: (tx: Database) => Promise<T>): Promise<T> {
    if (this.ended) throw new TransactionEnded("the transaction was already finished");
    this.ended = true;
    if (!this.held) return this.database.transaction(last);
    return (await this.held).finish(last);
  }

  /** Rolls back everything the operation wrote; its later writes are refused. */
  async rollback(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.rolledBack = true;
    const held = await this.held?.catch(() => undefined);
    await held
      ?.finish(() => Promise.reject(new TransactionEnded("rolled back")))
      .catch(() => undefined);
  }
}
