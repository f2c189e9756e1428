import { Redis } from "ioredis";
import type { Logger } from "pino";

/**
 * The shared Redis connection (budgets and authentication limits across instances), when
 * REDIS_URL is set. Redis is an accelerator: while it is away every command fails at once (no
 * offline queue) or within COMMAND_TIMEOUT_MS, the limits fall back to this instance's memory,
 * and the client reconnects every RECONNECT_MAX_MS at most.
 */
const COMMAND_TIMEOUT_MS = 250;
const RECONNECT_MAX_MS = 1_000;

export function connectRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    commandTimeout: COMMAND_TIMEOUT_MS,
    enableOfflineQueue: false,
    retryStrategy: (attempt) => Math.min(attempt * 100, RECONNECT_MAX_MS),
  });
  redis.on("error", (error: Error) => logger.warn({ err: error }, "redis error"));
  return redis;
}

/**
 * Resolves once Redis is connected, or after `waitMs` (then the instance starts degraded, and
 * uses Redis as soon as it connects): commands are not queued while it is away.
 */
export async function redisConnected(redis: Redis, logger: Logger, waitMs = 2_000): Promise<void> {
  if (redis.status === "ready") return;
  let timer: NodeJS.Timeout | undefined;
  let onReady: (() => void) | undefined;
  const connected = await new Promise<boolean>((resolve) => {
    onReady = () => resolve(true);
    redis.once("ready", onReady); // connection errors are logged by the "error" listener
    timer = setTimeout(() => resolve(false), waitMs);
  });
  clearTimeout(timer);
  redis.off("ready", onReady!);
  if (!connected) {
    logger.warn("redis unreachable at start: limits are per instance until it is back");
  }
}

/** Closes the connection: politely when connected, at once when not. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status !== "ready") {
    redis.disconnect();
    return;
  }
  await redis.quit().catch(() => redis.disconnect());
}
