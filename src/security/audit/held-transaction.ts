import type { Database } from "../../db/client.js";

/** A transaction kept open while an operation executes, finished by the caller later. */
export interface HeldTransaction {
  /** Use as the operation's executor: every statement of the operation runs in the transaction. */
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
export async function holdTransaction(db: Database): Promise<HeldTransaction> {
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
