import type { FastifyBaseLogger } from "fastify";

/**
 * One readiness check: resolves to undefined when ready, or a short reason when not ("audit
 * buffer full"). Reasons are public (GET /readyz), so they name a state, never an error message.
 */
export type ReadinessCheck = () => Promise<string | undefined> | string | undefined;

export interface ReadinessReport {
  /** This instance can serve (a degradable check may still fail: see `degraded`). */
  ready: boolean;
  /** A degradable check fails: the instance serves, with less (e.g. limits per instance). */
  degraded: boolean;
  checks: Record<string, string>;
}

const CHECK_TIMEOUT_MS = 2_000;

/**
 * The named checks behind GET /readyz. Any layer adds its own with `app.readiness.add(name, check)`
 * (database and Redis here; the audit buffer elsewhere), and the load balancer sees one answer.
 */
export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly degradable = new Set<string>();
  private closing = false;

  constructor(private readonly logger: FastifyBaseLogger) {}

  /**
   * A degradable check reports what the instance serves without (Redis: limits shared by the
   * instances); its failure is shown, not a reason to take the instance out of rotation.
   */
  add(name: string, check: ReadinessCheck, options: { degradable?: boolean } = {}): void {
    if (this.checks.has(name)) throw new Error(`readiness check "${name}" is already registered`);
    this.checks.set(name, check);
    if (options.degradable) this.degradable.add(name);
  }

  /** From now on the server reports itself unready (it is shutting down). */
  markClosing(): void {
    this.closing = true;
  }

  async report(): Promise<ReadinessReport> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, check]) => [name, await this.run(name, check)] as const),
    );
    const checks: Record<string, string> = Object.fromEntries(
      entries.map(([name, reason]) => [name, reason ?? "ok"]),
    );
    if (this.closing) checks.server = "shutting down";
    const failing = entries.filter(([, reason]) => reason !== undefined).map(([name]) => name);
    return {
      ready: !this.closing && failing.every((name) => this.degradable.has(name)),
      degraded: failing.length > 0,
      checks,
    };
  }

  private async run(name: string, check: ReadinessCheck): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve("timed out"), CHECK_TIMEOUT_MS);
    });
    try {
      return await Promise.race([Promise.resolve().then(check), timeout]);
    } catch (error) {
      this.logger.warn({ err: error, check: name }, "readiness check failed");
      return "failed";
    } finally {
      clearTimeout(timer);
    }
  }
}
