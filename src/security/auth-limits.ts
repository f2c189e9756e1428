import { isIPv6 } from "node:net";
import type { Redis } from "ioredis";
import {
  type IRateLimiterOptions,
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from "rate-limiter-flexible";

export interface AuthLimitSettings {
  attemptsPerMinutePerIp: number;
  lockoutFailures: number;
  lockoutSeconds: number;
}

/** Too many authentication attempts from one client address. */
export class TooManyAttemptsError extends Error {
  override name = "TooManyAttemptsError";
  constructor(readonly retryAfterSeconds: number) {
    super("too many authentication attempts");
  }
}

/** A login attempt under way: settle it with succeeded() or failed() once the password is checked. */
export interface LoginAttempt {
  /** The account is locked: the attempt must fail whatever the password. */
  readonly locked: boolean;
  succeeded(): Promise<void>;
  failed(): Promise<void>;
}

/** How long failures stay "consecutive" without a lock or a success. */
const FAILURE_MEMORY_SECONDS = 24 * 3600;

/**
 * The key for a client address. An IPv6 user typically holds a whole /64, so addresses in one
 * /64 share a counter; IPv4-mapped IPv6 addresses count as the IPv4 address.
 */
export function clientAddressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = "", tail = ""] = ip.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = ip.includes("::")
    ? [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}

/**
 * Brute-force limits on authentication (BEHAVIOUR.md): a number of attempts a minute per client
 * address across logIn, signUp, issueClientToken and refreshSession, and a lock on an account
 * after consecutive failed logIns. Held in Redis when there is one (shared by every instance,
 * with an in-memory fallback while Redis is unreachable), in memory otherwise.
 */
export class AuthLimits {
  private readonly attempts: RateLimiterAbstract;
  private readonly failures: RateLimiterAbstract;

  constructor(
    private readonly settings: AuthLimitSettings,
    store: { redis?: Redis | undefined; keyPrefix: string },
  ) {
    const limiter = (options: IRateLimiterOptions): RateLimiterAbstract => {
      const keyPrefix = `${store.keyPrefix}${options.keyPrefix}`;
      const inMemory = new RateLimiterMemory({ ...options, keyPrefix });
      if (!store.redis) return inMemory;
      return new RateLimiterRedis({
        ...options,
        keyPrefix,
        storeClient: store.redis,
        rejectIfRedisNotReady: true,
        insuranceLimiter: inMemory,
      });
    };
    this.attempts = limiter({
      keyPrefix: "auth-ip",
      points: settings.attemptsPerMinutePerIp,
      duration: 60,
    });
    // One point per login attempt, taken before the password is checked so that parallel
    // attempts (a batch) cannot all slip in before the lock; a success deletes the key.
    this.failures = limiter({
      keyPrefix: "login-failures",
      points: settings.lockoutFailures,
      duration: FAILURE_MEMORY_SECONDS,
    });
  }

  /** Counts one authentication attempt from this address; throws TooManyAttemptsError past the limit. */
  async countAttempt(ip: string): Promise<void> {
    try {
      await this.attempts.consume(clientAddressKey(ip));
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        throw new TooManyAttemptsError(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)));
      }
      throw rejection;
    }
  }

  /**
   * Seconds until this address may make an attempt again, when it has used them all (nothing is
   * counted); undefined while it has attempts left.
   */
  async exhausted(ip: string): Promise<number | undefined> {
    const state = await this.attempts.get(clientAddressKey(ip));
    if (!state || state.consumedPoints < this.settings.attemptsPerMinutePerIp) return undefined;
    return Math.max(1, Math.ceil(state.msBeforeNext / 1000));
  }

  /**
   * Starts a login attempt on an account (any stable key for the email, known or not, so that
   * unknown and known emails behave alike). Locked once lockoutFailures attempts in a row failed,
   * for lockoutSeconds from the last of them; attempts during the lock neither count nor extend it.
   */
  async beginLogin(account: string): Promise<LoginAttempt> {
    let consumed: number;
    try {
      consumed = (await this.failures.consume(account)).consumedPoints;
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      consumed = Number.POSITIVE_INFINITY;
    }
    const locked = consumed > this.settings.lockoutFailures;
    return {
      locked,
      succeeded: async () => {
        if (!locked) await this.failures.delete(account);
      },
      failed: async () => {
        if (!locked && consumed >= this.settings.lockoutFailures) {
          await this.failures.block(account, this.settings.lockoutSeconds);
        }
      },
    };
  }
}
