/**
 * Remembers the last `capacity` keys seen (least recently seen forgotten first), so that
 * something can be done once per key without a flood of distinct keys growing memory: a key
 * forgotten under such a flood is simply new again.
 */
export class RecentKeys {
  private readonly keys = new Map<string, true>();

  constructor(private readonly capacity: number) {}

  /** Whether the key is new (not among the recent ones); either way it is now the most recent. */
  see(key: string): boolean {
    const known = this.keys.delete(key);
    this.keys.set(key, true);
    if (!known && this.keys.size > this.capacity) {
      this.keys.delete(this.keys.keys().next().value!);
    }
    return !known;
  }

  get size(): number {
    return this.keys.size;
  }
}
