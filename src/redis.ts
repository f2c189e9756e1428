import { Redis } from "ioredis";
import type { Logger } from "pino";

/**
 * The shared Redis connection (budgets and authentication limits across instances), when
 * REDIS_URL is set. Commands fail fast rather than queueing forever while Redis is away.
 */
export function connectRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    enableOfflineQueue: true,
  });
  redis.on("error", (error: Error) => logger.warn({ err: error }, "redis error"));
  return redis;
}
