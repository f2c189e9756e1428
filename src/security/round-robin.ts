/** A task refused a place in the queue: its key, or the whole queue, has too many waiting. */
export class QueueFull extends Error {
  override name = "QueueFull";
  constructor(readonly scope: "key" | "all") {
    super(scope === "key" ? "too many tasks waiting for this key" : "too many tasks waiting");
  }
}

/** A task that was still waiting when its time was up (it never ran). */
export class WaitedTooLong extends Error {
  override name = "WaitedTooLong";
}

export interface RoundRobinLimits {
  /** Tasks running at once. */
  concurrency: number;
  /** Tasks one key may have waiting; more are refused (QueueFull "key"). */
  waitingPerKey: number;
  /** Tasks waiting in all; more are refused (QueueFull "all"). */
  waiting: number;
}

interface Waiting {
  start(): void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Runs tasks at most `concurrency` at a time, taking turns between keys: when a slot frees, the
 * key served least recently runs its oldest task. A key with a long backlog therefore delays
 * another key's next task by at most one task of its own, however many it has queued. The queue
 * is bounded (per key and in all), and a task whose deadline passes while it waits is dropped
 * without running (nobody waits for its result any more).
 */
export class RoundRobin {
  private active = 0;
  private queued = 0;
  private readonly queues = new Map<string, Waiting[]>();
  /** When each key with a task running or waiting last started one (a counter, not a clock). */
  private readonly lastServed = new Map<string, number>();
  private readonly runningByKey = new Map<string, number>();
  private tick = 0;

  constructor(private readonly limits: RoundRobinLimits) {}

  /** `until`: a time (Date.now()) past which the task is not worth starting. */
  run<T>(key: string, task: () => Promise<T>, until?: number): Promise<T> {
    const queue = this.queues.get(key) ?? [];
    if (this.active >= this.limits.concurrency) {
      if (queue.length >= this.limits.waitingPerKey) return Promise.reject(new QueueFull("key"));
      if (this.queued >= this.limits.waiting) return Promise.reject(new QueueFull("all"));
    }
    return new Promise<T>((resolve, reject) => {
      const waiting: Waiting = {
        start: () => {
          clearTimeout(waiting.timer);
          this.active++;
          this.runningByKey.set(key, (this.runningByKey.get(key) ?? 0) + 1);
          this.lastServed.set(key, ++this.tick);
          task()
            .then(resolve, reject)
            .finally(() => this.finished(key));
        },
        timer: undefined,
      };
      queue.push(waiting);
      this.queues.set(key, queue);
      this.queued++;
      this.next();
      if (until === undefined || !queue.includes(waiting)) return;
      waiting.timer = setTimeout(
        () => {
          this.remove(key, waiting);
          reject(new WaitedTooLong("its time was up before its turn came"));
        },
        Math.max(0, until - Date.now()),
      );
    });
  }

  /** Tasks running now (tests). */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for a slot (tests). */
  get waiting(): number {
    return this.queued;
  }

  private remove(key: string, waiting: Waiting): void {
    const queue = this.queues.get(key);
    const at = queue?.indexOf(waiting) ?? -1;
    if (!queue || at < 0) return;
    queue.splice(at, 1);
    this.queued--;
    if (queue.length === 0) {
      this.queues.delete(key);
      if (!this.runningByKey.has(key)) this.lastServed.delete(key);
    }
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
    while (this.active < this.limits.concurrency && this.queues.size > 0) {
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
      const waiting = queue.shift()!;
      this.queued--;
      if (queue.length === 0) this.queues.delete(chosen!);
      waiting.start();
    }
  }
}
