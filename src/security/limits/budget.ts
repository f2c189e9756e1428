import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Config } from "../../config.js";
import { clientAddressKey } from "../auth-limits.js";

/*
 * Cost budgets: one leaky bucket per user, API client, or (anonymous) client IP. The bucket fills
 * with the points an operation costs and drains continuously at the restore rate; an operation
 * that would overflow it is refused (and takes nothing). Unused points are given back after
 * execution, so the level only ever reflects what callers actually used.
 *
 * rate-limiter-flexible (the stack's budget library) only offers fixed and sliding windows with
 * all-or-nothing resets, which cannot express a continuous 100 points/s restore or report
 * "currentlyAvailable" truthfully; the bucket is therefore a small state machine of its own:
 * in memory, or one atomic Lua script in Redis (Redis' clock, so every instance agrees).
 */

export interface BucketPolicy {
  points: number;
  restorePerSecond: number;
}

export interface BucketState {
  /** False when taking the points would overflow the bucket (nothing was taken). */
  allowed: boolean;
  /** Points that can still be spent right now (whole points, rounded down). */
  available: number;
  /** When refused: how long until the points requested are available. */
  retryAfterMs: number;
  /** How long until one whole point is available (0 when one is). */
  emptyForMs: number;
}

/** `take` is all-or-nothing; `force` applies the change whatever the level (refunds, overruns). */
export type BucketMode = "take" | "force";

interface BucketStore {
  apply(key: string, points: number, policy: BucketPolicy, mode: BucketMode): Promise<BucketState>;
}

function leak(level: number, elapsedMs: number, policy: BucketPolicy): number {
  return Math.max(0, level - (Math.max(0, elapsedMs) * policy.restorePerSecond) / 1000);
}

function stateOf(
  level: number,
  allowed: boolean,
  points: number,
  policy: BucketPolicy,
): BucketState {
  const msToLeak = (excess: number) =>
    Math.max(0, Math.ceil((excess * 1000) / policy.restorePerSecond));
  return {
    allowed,
    available: Math.max(0, Math.floor(policy.points - level)),
    retryAfterMs: allowed ? 0 : msToLeak(level + points - policy.points),
    emptyForMs: msToLeak(level - (policy.points - 1)),
  };
}

const SWEEP_ABOVE = 10_000;

/** One process's buckets (the default without REDIS_URL, and the fallback while Redis fails). */
export class MemoryBuckets implements BucketStore {
  private readonly buckets = new Map<string, { level: number; at: number }>();

  apply(key: string, points: number, policy: BucketPolicy, mode: BucketMode) {
    const now = Date.now();
    const bucket = this.buckets.get(key);
    let level = bucket ? leak(bucket.level, now - bucket.at, policy) : 0;
    const allowed = mode === "force" || points <= 0 || level + points <= policy.points;
    if (allowed) level = Math.max(0, level + points);
    this.buckets.set(key, { level, at: now });
    if (this.buckets.size > SWEEP_ABOVE) this.sweep(now, policy);
    return Promise.resolve(stateOf(level, allowed, points, policy));
  }

  /** Forgets drained buckets so one-off client IPs do not accumulate. */
  private sweep(now: number, policy: BucketPolicy): void {
    for (const [key, bucket] of this.buckets) {
      if (leak(bucket.level, now - bucket.at, policy) === 0) this.buckets.delete(key);
    }
  }
}

const LEAKY_BUCKET_LUA = `
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local points = tonumber(ARGV[3])
local force = ARGV[4] == 'force'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'level', 'at')
local level = tonumber(state[1]) or 0
local at = tonumber(state[2]) or now
level = math.max(0, level - math.max(0, now - at) * rate / 1000)
local allowed = 1
if points > 0 and not force and level + points > capacity then
  allowed = 0
else
  level = math.max(0, level + points)
end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(level * 1000 / rate) + 1000)
return { allowed, tostring(level) }
`;

type LeakyBucketCommand = (
  key: string,
  capacity: number,
  rate: number,
  points: number,
  mode: BucketMode,
) => Promise<[number, string]>;

/** Buckets shared by every instance through Redis; falls back to memory while Redis fails. */
export class RedisBuckets implements BucketStore {
  private readonly command: LeakyBucketCommand;
  private readonly fallback = new MemoryBuckets();
  private degraded = false;

  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
  ) {
    redis.defineCommand("costBudgetLeakyBucket", { numberOfKeys: 1, lua: LEAKY_BUCKET_LUA });
    const commands = redis as unknown as { costBudgetLeakyBucket: LeakyBucketCommand };
    this.command = commands.costBudgetLeakyBucket.bind(redis);
  }

  async apply(key: string, points: number, policy: BucketPolicy, mode: BucketMode) {
    // Known to be down: do not make every request wait for a connection attempt.
    if (this.redis.status === "reconnecting" || this.redis.status === "end") {
      return this.degrade(key, points, policy, mode);
    }
    try {
      const [allowed, level] = await this.command(
        key,
        policy.points,
        policy.restorePerSecond,
        points,
        mode,
      );
      if (this.degraded) {
        this.degraded = false;
        this.logger.info("cost budget: redis is back, budgets are shared again");
      }
      return stateOf(Number(level), allowed === 1, points, policy);
    } catch (error) {
      return this.degrade(key, points, policy, mode, error);
    }
  }

  /**
   * Availability over strictness: a Redis outage limits per instance rather than failing every
   * request. The static limits (cost, depth, …) still apply.
   */
  private degrade(
    key: string,
    points: number,
    policy: BucketPolicy,
    mode: BucketMode,
    error?: unknown,
  ) {
    if (!this.degraded) {
      this.degraded = true;
      this.logger.warn(
        { err: error },
        "cost budget: redis unavailable, budgets are per instance until it is back",
      );
    }
    return this.fallback.apply(key, points, policy, mode);
  }
}

/** Who pays for an operation: a user or API client by id, or an anonymous caller by address. */
export type Payer = { kind: "anonymous" } | { kind: "user" | "client"; id: string };

export interface BudgetAccount {
  key: string;
  policy: BucketPolicy;
}

/** The budgets of all callers: who pays, how much they may hold, and where the buckets live. */
export class CostBudgets {
  private readonly store: BucketStore;
  private readonly keyPrefix: string;
  /**
   * Until when each bucket seen empty (not one point left) stays empty, in this process: every
   * operation costs at least a point, so until then a caller is refused without asking the store
   * (or loading its principal). The store stays the truth: this only ever refuses what the store
   * would, a few milliseconds longer at most if another instance gave points back meanwhile.
   */
  private readonly emptyUntil = new Map<string, number>();

  /** keyPrefix: REDIS_KEY_PREFIX, shared with the other Redis users of the server. */
  constructor(
    private readonly config: Config["budgets"],
    store: { redis: Redis | undefined; keyPrefix: string; logger: Logger },
  ) {
    this.store = store.redis ? new RedisBuckets(store.redis, store.logger) : new MemoryBuckets();
    this.keyPrefix = `${store.keyPrefix}cost-budget:`;
  }

  /** The bucket that pays for an operation: the user, the API client, or the anonymous IP. */
  accountOf(payer: Payer, ip: string): BudgetAccount {
    const prefix = this.keyPrefix;
    if (payer.kind === "anonymous") {
      // One bucket per address, or per IPv6 /64, as for authentication attempts.
      return { key: `${prefix}ip:${clientAddressKey(ip)}`, policy: this.config.anonymous };
    }
    return { key: `${prefix}${payer.kind}:${payer.id}`, policy: this.config.principal };
  }

  async apply(account: BudgetAccount, points: number, mode: BucketMode): Promise<BucketState> {
    const state = await this.store.apply(account.key, points, account.policy, mode);
    if (state.emptyForMs > 0) {
      this.emptyUntil.set(account.key, Date.now() + state.emptyForMs);
      if (this.emptyUntil.size > SWEEP_ABOVE) this.sweepEmpty();
    } else {
      this.emptyUntil.delete(account.key);
    }
    return state;
  }

  /** Seconds until the account has a point again, when it was seen empty; else undefined. */
  emptyForSeconds(account: BudgetAccount): number | undefined {
    const until = this.emptyUntil.get(account.key);
    if (until === undefined) return undefined;
    const ms = until - Date.now();
    if (ms <= 0) {
      this.emptyUntil.delete(account.key);
      return undefined;
    }
    return Math.max(1, Math.ceil(ms / 1000));
  }

  private sweepEmpty(): void {
    const now = Date.now();
    for (const [key, until] of this.emptyUntil) if (until <= now) this.emptyUntil.delete(key);
  }
}
