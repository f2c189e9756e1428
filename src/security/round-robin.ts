/**
 * Runs tasks at most `concurrency` at a time, taking turns between keys: when a slot frees, the
 * key served least recently runs its oldest task. A key with a long backlog therefore delays
 * another key's next task by at most one task of its own, however many it has queued.
 */
export class RoundRobin {
  private active = 0;
  private readonly queues = new Map<string, (() => void)[]>();
  /** When each key with a task running or waiting last started one (a counter, not a clock). */
  private readonly lastServed = new Map<string, number>();
  private readonly runningByKey = new Map<string, number>();
  private tick = 0;

  constructor(private readonly concurrency: number) {}

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.active++;
        this.runningByKey.set(key, (this.runningByKey.get(key) ?? 0) + 1);
        this.lastServed.set(key, ++this.tick);
        task()
          .then(resolve, reject)
          .finally(() => this.finished(key));
      };
      const queue = this.queues.get(key);
      if (queue) queue.push(start);
      else this.queues.set(key, [start]);
      this.next();
    });
  }

  /** Tasks running now (tests). */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for a slot (tests). */
  get waiting(): number {
    let count = 0;
    for (const queue of this.queues.values()) count += queue.length;
    return count;
  }

  private finished(key: string): void {
    this.active--;
    const running = this.runningByKey.get(key)! - 1;
    if (running > 0) this.runningByKey.set(key, running);
    else this.runningByKey.delete(key);
    if (running === 0 && !this.queues.has(key)) this.lastServed.delete(key);
    this.next();
  }

  private next(): void {
    while (this.active < this.concurrency && this.queues.size > 0) {
      let chosen: string | undefined;
      let oldest = Infinity;
      for (const key of this.queues.keys()) {
        const served = this.lastServed.get(key) ?? 0;
        if (served < oldest) {
          oldest = served;
          chosen = key;
        }
      }
      const queue = this.queues.get(chosen!)!;
      const start = queue.shift()!;
      if (queue.length === 0) this.queues.delete(chosen!);
      start();
    }
  }
}
