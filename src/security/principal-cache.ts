/**
 * The rows principals are made of (a token's user or API client as the database has it), kept
 * between requests so that an authenticated request does not wait on a lookup, and forgotten as
 * soon as what they were read from changes.
 *
 * Changes are announced by the database (drizzle/0009_principal_changes_linear.sql): a
 * trigger on every change that can end or narrow access notifies each instance when its
 * transaction commits, and the instance that commits also learns it from the transaction before
 * it answers (forgetCommitted). Rows are kept only while the announcements can be heard: while the
 * listening connection is down every request reads the database, and whatever was kept before is
 * dropped when it is back, since announcements may have been missed meanwhile. A lookup that was
 * under way when an announcement arrived is not kept (it may have read the row before the change
 * committed); one that ended before is dropped by the announcement itself. A kept row is also
 * read again after maxAgeMs, whatever happened.
 */

/**
 * An announced change: "u:<user id>" (its sessions included), "c:<api client id>", or "*" (a
 * table emptied, or too many changes to list: every principal).
 */
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
  /** The keys each change makes stale: a change is forgotten in time independent of the size. */
  private readonly keysByChange = new Map<PrincipalChange, Set<string>>();
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
      this.remove(key);
      this.entries.set(key, { value, changes, loadedAt: Date.now() });
      for (const change of changes) {
        let keys = this.keysByChange.get(change);
        if (!keys) this.keysByChange.set(change, (keys = new Set()));
        keys.add(key);
      }
      if (this.entries.size > this.options.maxEntries)
        this.remove(this.entries.keys().next().value!);
    }
    return value;
  }

  /** An announcement: every row it concerns ("*": every row) is read again on its next use. */
  forget(change: PrincipalChange): void {
    if (change === "*") {
      this.forgetAll();
      return;
    }
    this.generation++;
    for (const key of this.keysByChange.get(change) ?? []) this.remove(key);
  }

  /**
   * The changes a transaction of this instance committed, as its triggers listed them: "*"
   * when there were too many to list (a mass change), and then everything is forgotten.
   */
  forgetCommitted(listed: string | null | undefined): void {
    for (const change of listed?.split(" ") ?? []) if (change) this.forget(change);
  }

  /** Whether announcements are heard now; either way, nothing kept so far is trusted any more. */
  setListening(listening: boolean): void {
    this.listening = listening;
    this.forgetAll();
  }

  private forgetAll(): void {
    this.generation++;
    this.entries.clear();
    this.keysByChange.clear();
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    for (const change of entry.changes) {
      const keys = this.keysByChange.get(change);
      keys?.delete(key);
      if (keys?.size === 0) this.keysByChange.delete(change);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
