import type { Logger } from "pino";
import { databaseUnavailableCause } from "./availability.js";

/** While the database is down, it is asked this often whether it is back (and reconnected). */
const PROBE_INTERVAL_MS = 250;
/** While it stays down, one line says so this often (not one per failed request). */
const STILL_DOWN_LOG_MS = 10_000;

/**
 * Whether the database can be reached, as the operations and the readiness checks find it. The
 * first failure is logged with its cause, then one line every 10 s while it lasts, then one when
 * it is back; while it is down a probe keeps asking, so that the pool reconnects as soon as the
 * database accepts again, before the next client request needs a connection.
 */
export class DatabaseHealth {
  private downSince: number | undefined;
  private failuresSinceLog = 0;
  private lastLoggedAt = 0;
  private probe: NodeJS.Timeout | undefined;

  constructor(
    private readonly ping: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  get reachable(): boolean {
    return this.downSince === undefined;
  }

  /**
   * Reports a failure: true when it means the database cannot be reached (the caller answers
   * 503), false for any other error (left to the caller).
   */
  failed(error: unknown): boolean {
    const cause = databaseUnavailableCause(error);
    if (!cause) return false;
    const now = Date.now();
    if (this.downSince === undefined) {
      this.downSince = now;
      this.lastLoggedAt = now;
      this.failuresSinceLog = 0;
      this.logger.error({ cause }, "database unreachable: operations are answered 503");
      this.startProbe();
    } else if (now - this.lastLoggedAt >= STILL_DOWN_LOG_MS) {
      this.logger.error(
        { cause, downForMs: now - this.downSince, failures: this.failuresSinceLog + 1 },
        "database still unreachable",
      );
      this.lastLoggedAt = now;
      this.failuresSinceLog = 0;
    } else {
      this.failuresSinceLog++;
    }
    return true;
  }

  /** The database answered. */
  succeeded(): void {
    if (this.downSince === undefined) return;
    this.logger.info({ downForMs: Date.now() - this.downSince }, "database reachable again");
    this.downSince = undefined;
    this.stopProbe();
  }

  /** Asks the database now: resolves to the reason it is not ready, or undefined. */
  async check(): Promise<string | undefined> {
    try {
      await this.ping();
      this.succeeded();
      return undefined;
    } catch (error) {
      if (this.failed(error)) return "unreachable";
      throw error;
    }
  }

  close(): void {
    this.stopProbe();
  }

  private startProbe(): void {
    this.probe ??= setInterval(() => {
      this.check().catch(() => undefined);
    }, PROBE_INTERVAL_MS).unref();
  }

  private stopProbe(): void {
    clearInterval(this.probe);
    this.probe = undefined;
  }
}
