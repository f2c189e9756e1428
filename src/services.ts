import type { PGlite } from "@electric-sql/pglite";
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { openDatabase } from "./db/client.js";
import { DatabaseHealth } from "./db/health.js";
import type { Services } from "./graphql/types.js";
import { connectRedis, redisConnected } from "./redis.js";
import { AuthLimits } from "./security/auth-limits.js";
import { FairShare } from "./security/limits/fair-share.js";
import { PasswordHasher } from "./security/passwords.js";
import { PrincipalCache } from "./security/principal-cache.js";
import { BlindIndex, FieldCipher } from "./security/pii.js";
import { AccessTokens } from "./security/tokens.js";

/** Opens the database (migrated) and Redis, and builds the long-lived services over them. */
export async function openServices(
  config: Config,
  logger: Logger,
  pglite?: PGlite,
): Promise<Services> {
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    statementTimeoutMs: config.limits.statementTimeoutMs,
    poolSize: config.databasePoolSize,
    connection: config.databaseConnection,
    onStartRetry: ({ attempt, retryInMs, cause }) =>
      logger.warn(
        { attempt, retryInMs, cause },
        "database not reachable at start: retrying (DATABASE_START_TIMEOUT_SECONDS)",
      ),
    ...(pglite ? { pglite } : {}),
  });
  const principals = new PrincipalCache();
  const principalLog = logger.child({ component: "principals" });
  let heard: boolean | undefined;
  database.listen(
    "principal_changes",
    (change) => principals.forget(change),
    (listening) => {
      principals.setListening(listening);
      if (heard === listening) return;
      if (listening && heard === false) principalLog.info("principal changes heard again");
      if (!listening) {
        principalLog.warn("principal changes not heard: principals are read on every request");
      }
      heard = listening;
    },
  );
  const redis = config.redisUrl ? connectRedis(config.redisUrl, logger) : undefined;
  if (redis) await redisConnected(redis, logger);
  return {
    config,
    database,
    databaseHealth: new DatabaseHealth(
      () => database.ping(),
      logger.child({ component: "database" }),
    ),
    logger,
    cipher: new FieldCipher(config.pii.keys, config.pii.activeKeyId),
    blindIndex: new BlindIndex(config.pii.blindIndexKey, config.pii.blindIndexNextKey),
    passwords: new PasswordHasher(config.bcryptRounds, config.passwordHashConcurrency),
    tokens: new AccessTokens(config.jwt),
    authLimits: new AuthLimits(config.authLimits, { redis, keyPrefix: config.redisKeyPrefix }),
    fairShare: new FairShare(config.fairShare),
    // A tenant alone may use the whole pool; n active tenants a part each. A statement waits for
    // a slot as long as it may run.
    poolShare: new FairShare({
      perPrincipal: config.databasePoolSize,
      perOrganization: config.databasePoolSize,
      waitMs: config.limits.statementTimeoutMs,
    }),
    principals,
    redis,
  };
}
