/**
 * Runs tasks at most `concurrency` at a time, taking turns between keys: when a slot frees, the
 * next key in rotation runs its oldest task. A key with a long backlog therefore delays another
 * key's next task by at most one task of its own, however many it has queued.
 */
export class RoundRobin {
  private running = 0;
  /** Keys with waiting tasks, in turn order (a Map keeps insertion order). */
  private readonly queues = new Map<string, (() => void)[]>();

  constructor(private readonly concurrency: number) {}

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running++;
        task()
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.next();
          });
      };
      if (this.running < this.concurrency && this.queues.size === 0) {
        start();
        return;
      }
      const queue = this.queues.get(key);
      if (queue) queue.push(start);
      else this.queues.set(key, [start]);
    });
  }

  /** Tasks waiting for a slot (tests). */
  get waiting(): number {
    let count = 0;
    for (const queue of this.queues.values()) count += queue.length;
    return count;
  }

  private next(): void {
    const first = this.queues.entries().next();
    if (first.done) return;
    const [key, queue] = first.value;
    const start = queue.shift()!;
    this.queues.delete(key);
    if (queue.length > 0) this.queues.set(key, queue); // to the back of the rotation
    start();
  }
}
