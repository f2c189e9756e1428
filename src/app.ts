import { randomUUID } from "node:crypto";
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { ApolloServerPluginLandingPageLocalDefault } from "@apollo/server/plugin/landingPage/default";
import { fastifyApolloDrainPlugin } from "@as-integrations/fastify";
import type { PGlite } from "@electric-sql/pglite";
import type { GraphQLSchema } from "graphql";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { openDatabase } from "./db/client.js";
import { seedDemoDataIfEmpty } from "./db/seed.js";
import { type Context, createContext, type Services } from "./graphql/context.js";
import { invalidToken } from "./graphql/errors.js";
import { formatError } from "./graphql/format-error.js";
import { buildApiSchema } from "./graphql/schema.js";
import { registerGraphQLRoute } from "./http/graphql-route.js";
import { createLogger } from "./logger.js";
import { connectRedis } from "./redis.js";
import { AuthLimits } from "./security/auth-limits.js";
import { AuditLog } from "./security/audit/audit-log.js";
import { PasswordHasher } from "./security/passwords.js";
import { BlindIndex, FieldCipher } from "./security/pii.js";
import { type Principal, resolvePrincipal } from "./security/principal.js";
import { AccessTokens, InvalidTokenError } from "./security/tokens.js";

export interface App {
  server: FastifyInstance;
  services: Services;
  audit: AuditLog;
  /** Stops accepting, finishes in-flight requests, closes the database. */
  close(): Promise<void>;
}

export interface AppDeps {
  logger?: Logger;
  /** A PGlite instance to share instead of opening one under DATA_DIR (tests). */
  pglite?: PGlite;
  /**
   * Another build of the schema, for bench/authz-overhead.ts only (its unshielded baseline).
   * No setting leads here: main.ts and the tests always serve buildApiSchema().
   */
  schema?: GraphQLSchema;
}

/** TRUST_PROXY: "true", a hop count, or comma-separated addresses/CIDRs; off by default. */
function parseTrustProxy(value: string | undefined) {
  if (!value || value === "false") return false;
  if (value === "true") return true;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    return (_address: string, hop: number) => hop < hops;
  }
  return value.split(",").map((s) => s.trim());
}

/** The one wiring function: main.ts and every test build the server through it. */
export async function buildApp(config: Config, deps: AppDeps = {}): Promise<App> {
  const logger = deps.logger ?? createLogger(config.logLevel);
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    statementTimeoutMs: config.limits.statementTimeoutMs,
    ...(deps.pglite ? { pglite: deps.pglite } : {}),
  });
  const redis = config.redisUrl ? connectRedis(config.redisUrl, logger) : undefined;
  const services: Services = {
    config,
    database,
    logger,
    cipher: new FieldCipher(config.pii.keys, config.pii.activeKeyId),
    blindIndex: new BlindIndex(config.pii.blindIndexKey, config.pii.blindIndexNextKey),
    passwords: new PasswordHasher(config.bcryptRounds),
    tokens: new AccessTokens(config.jwt),
    authLimits: new AuthLimits(config.authLimits, { redis, keyPrefix: config.redisKeyPrefix }),
    redis,
  };
  if (config.seedDemoData) await seedDemoDataIfEmpty(services);
  const audit = new AuditLog({
    database: database.db,
    logger,
    bufferSize: config.audit.bufferSize,
    flushMs: config.audit.flushMs,
    maxTokens: config.limits.tokens,
  });

  const loggerInstance: FastifyBaseLogger = logger; // pino's Logger, seen as Fastify's base type
  const server: FastifyInstance = Fastify({
    loggerInstance,
    bodyLimit: config.limits.bodyBytes,
    trustProxy: parseTrustProxy(config.trustProxy),
    genReqId: () => randomUUID(),
    requestIdHeader: false,
  });

  const apollo = new ApolloServer<Context>({
    schema: deps.schema ?? (await buildApiSchema()),
    introspection: config.introspection !== "off",
    allowBatchedHttpRequests: false, // batches are split by the route, one context each
    status400ForVariableCoercionErrors: false,
    includeStacktraceInErrorResponses: config.isDevelopment,
    formatError: formatError(config, logger),
    plugins: [
      fastifyApolloDrainPlugin(server),
      audit.plugin(),
      config.isDevelopment
        ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false })
        : ApolloServerPluginLandingPageDisabled(),
    ],
  });
  await apollo.start();

  registerGraphQLRoute(server, apollo, {
    batchLimit: config.limits.batch,
    audit,
    contextFor: (request) => {
      // The principal is resolved once per HTTP request; each operation gets its own context.
      let principal: Promise<Principal> | undefined;
      return async () => {
        principal ??= resolvePrincipal(request.headers.authorization, services.tokens, database.db);
        try {
          return createContext(services, {
            principal: await principal,
            requestId: request.id,
            ip: request.ip,
            userAgent: request.headers["user-agent"],
          });
        } catch (error) {
          if (error instanceof InvalidTokenError) throw invalidToken();
          throw error;
        }
      };
    },
  });

  server.get("/healthz", () => ({ status: "ok" }));
  server.get("/readyz", async (_request, reply) => {
    const databaseState = await database.ping().then(
      () => "ok",
      () => "unreachable",
    );
    const { full, failing, pending } = audit.status();
    const auditLog = full ? "buffer full" : failing ? "retrying" : "ok";
    const ready = databaseState === "ok" && !full;
    return reply.code(ready ? 200 : 503).send({
      status: ready ? "ready" : "unavailable",
      database: databaseState,
      audit: auditLog,
      auditPending: pending,
    });
  });

  return {
    server,
    services,
    audit,
    close: async () => {
      await server.close(); // drains Apollo too
      await audit.close(); // writes the buffered audit events before the database closes
      await database.close();
      await services.redis?.quit();
    },
  };
}
