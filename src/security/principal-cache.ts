/**
 * The rows principals are made of (a token's user or API client as the database has it), kept
 * between requests so that an authenticated request does not wait on a lookup, and forgotten as
 * soon as what they were read from changes.
 *
 * Changes are announced by the database (drizzle/0008_principal_change_notifications.sql): a
 * trigger on every change that can end or narrow access notifies each instance when its
 * transaction commits, and the instance that commits also learns it from the transaction before
 * it answers (forgetCommitted). Rows are kept only while the announcements can be heard: while the
 * listening connection is down every request reads the database, and whatever was kept before is
 * dropped when it is back, since announcements may have been missed meanwhile. A lookup that was
 * under way when an announcement arrived is not kept (it may have read the row before the change
 * committed); one that ended before is dropped by the announcement itself. A kept row is also
 * read again after maxAgeMs, whatever happened.
 */

/** An announced change: "u:<user id>", "s:<session family id>" or "c:<api client id>". */
export type PrincipalChange = string;

interface Entry {
  value: object;
  /** The changes that make this row stale. */
  changes: readonly PrincipalChange[];
  loadedAt: number;
}

export interface PrincipalCacheOptions {
  maxEntries: number;
  maxAgeMs: number;
}

export const DEFAULT_PRINCIPAL_CACHE: PrincipalCacheOptions = {
  maxEntries: 10_000,
  maxAgeMs: 60_000,
};

export class PrincipalCache {
  private readonly entries = new Map<string, Entry>();
  /** Moves with every announcement: a lookup that saw it move is not kept. */
  private generation = 0;
  private listening = false;

  constructor(private readonly options: PrincipalCacheOptions = DEFAULT_PRINCIPAL_CACHE) {}

  /**
   * The kept row for `key`, or `load`'s (kept if it found one, could be announced, and no
   * announcement came while it ran). `changes` are the announcements that make the row stale.
   */
  async get<T extends object>(
    key: string,
    changes: readonly PrincipalChange[],
    load: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    if (!this.listening) return load();
    const kept = this.entries.get(key);
    if (kept && Date.now() - kept.loadedAt < this.options.maxAgeMs) return kept.value as T;
    const generation = this.generation;
    const value = await load();
    if (value !== undefined && this.listening && generation === this.generation) {
      this.entries.delete(key);
      this.entries.set(key, { value, changes, loadedAt: Date.now() });
      if (this.entries.size > this.options.maxEntries) {
        this.entries.delete(this.entries.keys().next().value!);
      }
    }
    return value;
  }

  /** An announcement: every row it concerns is read again on its next use. */
  forget(change: PrincipalChange): void {
    this.generation++;
    for (const [key, entry] of this.entries) {
      if (entry.changes.includes(change)) this.entries.delete(key);
    }
  }

  /** The changes a transaction of this instance committed, as its trigger listed them. */
  forgetCommitted(listed: string | null | undefined): void {
    for (const change of listed?.split(" ") ?? []) if (change) this.forget(change);
  }

  /** Whether announcements are heard now; either way, nothing kept so far is trusted any more. */
  setListening(listening: boolean): void {
    this.listening = listening;
    this.generation++;
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
