import { clientErrorHandler } from "./http/client-errors.js";
import { ApolloServer } from "@apollo/server";
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from "@apollo/server/plugin/disabled";
import { ApolloServerPluginLandingPageLocalDefault } from "@apollo/server/plugin/landingPage/default";
import { fastifyApolloDrainPlugin } from "@as-integrations/fastify";
import type { PGlite } from "@electric-sql/pglite";
import type { GraphQLSchema } from "graphql";
import type { Server as TlsServer } from "node:tls";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { convertLegacyContacts } from "./db/legacy-contacts.js";
import { seedDemoDataIfEmpty } from "./db/seed.js";
import { formatError } from "./graphql/pipeline/errors.js";
import { buildPipeline, type Pipeline } from "./graphql/pipeline/index.js";
import { type ManifestEntry, readManifests } from "./graphql/trusted-documents/manifest.js";
import { TrustedDocuments } from "./graphql/trusted-documents/store.js";
import { buildApiSchema } from "./graphql/schema.js";
import type { Context, Services } from "./graphql/types.js";
import { registerCors } from "./http/cors.js";
import { limitConnectionsPerAddress } from "./http/connections.js";
import { registerConnectionDraining } from "./http/draining.js";
import { registerErrorResponses } from "./http/error-responses.js";
import { registerGraphQLRoute } from "./http/graphql-route.js";
import { registerMetricsRoute, ServerMetrics } from "./http/metrics.js";
import { registerOperationsRoutes } from "./http/operations-routes.js";
import { parseOriginPatterns } from "./http/origins.js";
import { Readiness } from "./http/readiness.js";
import { parseProxyTrust } from "./http/proxy-trust.js";
import { registerRequestIdHeader, requestIdGenerator } from "./http/request-id.js";
import { registerSchemaRoute } from "./http/schema-route.js";
import { registerSecurityHeaders } from "./http/security-headers.js";
import { loadTlsCredentials, reloadCertificateOnChange, TLS_POLICY } from "./http/tls.js";
import { createLogger } from "./logger.js";
import { closeRedis } from "./redis.js";
import { AuditLog } from "./security/audit/audit-log.js";
import { signerOf } from "./security/audit/signing.js";
import { SchemaViews } from "./security/authz/schema-view.js";
import type { FieldCipher } from "./security/pii.js";
import { openServices } from "./services.js";
import type { Tracing } from "./telemetry/tracing.js";

export interface App {
  server: FastifyInstance;
  services: Services;
  audit: AuditLog;
  /** GET /readyz: every layer adds its named checks here (`readiness.add("audit", check)`). */
  readiness: Readiness;
  metrics: ServerMetrics;
  /** The loaded trusted documents (README "Trusted documents"); undefined when they are off. */
  trustedDocuments: TrustedDocuments | undefined;
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
  /**
   * A cipher in place of the one built from PII_KEYS, for bench/run.ts only (its diagnostic run
   * without encryption, BENCH_FULL_CIPHER=none). No setting leads here.
   */
  cipher?: FieldCipher;
  /** OpenTelemetry tracing (main.ts starts it from the OTEL_* variables); the app shuts it down. */
  tracing?: Tracing;
}

/** A client has this long to send a request's headers (REQUEST_TIMEOUT_MS for all of it). */
const HEADERS_TIMEOUT_MS = 10_000;

/** The manifests, compiled against the served schema and checks (throws ConfigError). */
function compileTrustedDocuments(
  manifests: Map<string, ManifestEntry> | undefined,
  config: Config,
  schema: GraphQLSchema,
  pipeline: Pick<Pipeline, "parseOptions" | "validationRules">,
): TrustedDocuments | undefined {
  if (!manifests) return undefined;
  return new TrustedDocuments(manifests.values(), {
    schema,
    parseOptions: pipeline.parseOptions,
    validationRules: pipeline.validationRules,
    limits: config.limits,
  });
}

/** The one wiring function: main.ts and every test build the server through it. */
export async function buildApp(config: Config, deps: AppDeps = {}): Promise<App> {
  const logger = deps.logger ?? createLogger(config.logLevel);
  const tls = config.tls && loadTlsCredentials(config.tls); // before anything opens: fails fast
  const manifests = config.trustedDocuments.path
    ? readManifests(config.trustedDocuments.path)
    : undefined;
  const opened = await openServices(config, logger, deps.pglite);
  const services = deps.cipher ? { ...opened, cipher: deps.cipher } : opened;
  const { database, redis } = services;
  // before serving: rows of the previous release move into the contact envelope
  await convertLegacyContacts(database.db, services.cipher, logger);
  if (config.seedDemoData) await seedDemoDataIfEmpty(services);
  const apiSchema = deps.schema ?? (await buildApiSchema());
  const audit = new AuditLog({
    database: database.db,
    logger,
    bufferSize: config.audit.bufferSize,
    flushMs: config.audit.flushMs,
    durableWaitMs: config.audit.durableWaitMs,
    shutdownFlushMs: config.audit.shutdownFlushMs,
    maxTokens: config.limits.tokens,
    schema: apiSchema,
    fingerprintSecret: config.pii.blindIndexKey,
    signer: signerOf(config.audit.signingKey),
    checkpointSeconds: config.audit.checkpointSeconds,
  });

  const loggerInstance: FastifyBaseLogger = logger; // pino's Logger, seen as Fastify's base type
  const { requestTimeoutMs, keepAliveTimeoutMs, maxConnections, maxConnectionsPerAddress } =
    config.http;
  const trustProxy = parseProxyTrust(config.trustProxy);
  if (typeof trustProxy === "string") throw new Error(`TRUST_PROXY: ${trustProxy}`); // config.ts refused it already
  const http = {
    requestTimeout: requestTimeoutMs,
    headersTimeout: Math.min(HEADERS_TIMEOUT_MS, requestTimeoutMs),
    connectionsCheckingInterval: 1_000,
  };
  // Fastify passes `http` to http.createServer only: with TLS the same options go into `https`.
  const transport = tls
    ? { https: { ...http, ...TLS_POLICY, cert: tls.cert, key: tls.key } }
    : { http };
  const hsts = config.isProduction || Boolean(tls); // plain http on localhost in development
  const server = Fastify({
    ...transport,
    loggerInstance,
    bodyLimit: config.limits.bodyBytes,
    trustProxy: trustProxy ?? false,
    genReqId: requestIdGenerator(trustProxy),
    requestIdHeader: false, // genReqId reads X-Request-Id itself, from trusted proxies only
    // Slow clients are cut off (Fastify's defaults are "never"): the whole request (headers and
    // body) must arrive within REQUEST_TIMEOUT_MS or it is answered 408, its headers within
    // HEADERS_TIMEOUT_MS (a socket that sends nothing is closed then), and an idle keep-alive
    // connection closes after a few seconds. Node checks these every second, not every 30 s.
    requestTimeout: requestTimeoutMs,
    connectionTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    clientErrorHandler: clientErrorHandler({ hsts, logger }),
  }) as unknown as FastifyInstance; // the https instance, seen as the http one every module takes
  const stopCertificateReload =
    tls && config.tls
      ? reloadCertificateOnChange(server.server as unknown as TlsServer, config.tls, tls, {
          intervalMs: config.tls.reloadIntervalMs,
          logger,
        })
      : () => undefined;
  deps.tracing?.traceHttpRequests(server, { tls: Boolean(tls) });
  server.server.maxConnections = maxConnections; // past it, new sockets are closed at once
  if (!trustProxy) limitConnectionsPerAddress(server.server, maxConnectionsPerAddress);
  server.removeContentTypeParser("text/plain"); // JSON only: anything else is 415
  const readiness = new Readiness(server.log);
  const metrics = new ServerMetrics();
  registerRequestIdHeader(server);
  const connections = registerConnectionDraining(server);
  await registerSecurityHeaders(server, {
    hsts,
    sandbox: config.isDevelopment,
  });
  await registerCors(server, parseOriginPatterns(config.corsOrigins));
  registerErrorResponses(server, {
    bodyLimit: config.limits.bodyBytes,
    onRejected: (code) => metrics.reject(code),
  });

  // Each principal's view of the schema, for introspection and GET /schema.graphql.
  const views = new SchemaViews(apiSchema);
  const pipeline = buildPipeline(services, {
    audit,
    metrics,
    views,
    operationTracing: deps.tracing?.operationStage,
  });
  const schema = pipeline.wrapSchema(apiSchema);
  let trustedDocuments: TrustedDocuments | undefined;
  try {
    trustedDocuments = compileTrustedDocuments(manifests, config, schema, pipeline);
  } catch (error) {
    // a manifest document the server would refuse: it does not start, and leaves nothing open
    await audit.close();
    services.databaseHealth.close();
    await database.close();
    if (redis) await closeRedis(redis);
    throw error;
  }
  if (trustedDocuments) {
    logger.info(
      { documents: trustedDocuments.size, mode: config.trustedDocuments.mode },
      "trusted documents loaded",
    );
  }
  const apollo = new ApolloServer<Context>({
    schema,
    parseOptions: pipeline.parseOptions,
    validationRules: pipeline.validationRules,
    introspection: true, // the policy (public, authenticated, off) is the pipeline's
    logger,
    allowBatchedHttpRequests: false, // batches are split by the route, one context each
    // Automatic persisted queries are off: one cache shared by every tenant, never specified
    // here; clients get PERSISTED_QUERY_NOT_SUPPORTED, which Apollo Client's link understands.
    persistedQueries: false,
    // Trusted documents are parsed and validated at start: Apollo takes them from here.
    ...(trustedDocuments && { documentStore: trustedDocuments.documentStore() }),
    includeStacktraceInErrorResponses: config.isDevelopment,
    formatError: formatError(config, logger, services.databaseHealth),
    plugins: [
      // Every response is no-store (the route), so cache hints would only cost time: Apollo's
      // default cache-control plugin ran for each field of each response (a third of a 50-row
      // page's execution), and a hint could have marked tenant data cacheable.
      ApolloServerPluginCacheControlDisabled(),
      fastifyApolloDrainPlugin(server),
      config.isDevelopment
        ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false })
        : ApolloServerPluginLandingPageDisabled(),
      pipeline.plugin,
    ],
  });
  await apollo.start();

  const routed = deps.tracing?.traceOperations(pipeline) ?? pipeline;
  registerGraphQLRoute(server, apollo, routed, trustedDocuments);
  registerSchemaRoute(server, apollo, routed, views);

  readiness.add("database", () => services.databaseHealth.check());
  if (redis) {
    // without Redis the limits are per instance: degraded, still serving
    readiness.add(
      "redis",
      async () => {
        if (redis.status !== "ready") return "unreachable";
        return (await redis.ping()) === "PONG" ? undefined : "no answer";
      },
      { degradable: true },
    );
  }
  // Writes failing (the database refuses them) means every operation would wait, then get 503.
  readiness.add("audit", () => {
    const status = audit.status();
    if (status.full) return "buffer full";
    return status.failing ? "writes failing" : undefined;
  });
  registerOperationsRoutes(server, readiness);
  metrics.watchReadiness(readiness);
  registerMetricsRoute(server, metrics, {
    token: config.metricsToken,
    production: config.isProduction,
  });

  return {
    server,
    services,
    audit,
    readiness,
    metrics,
    trustedDocuments,
    close: async () => {
      readiness.markClosing();
      connections.drain();
      stopCertificateReload();
      await server.close(); // drains Apollo too
      // writes the buffered audit events before the database closes
      const auditComplete = await audit.close();
      services.databaseHealth.close();
      await database.close();
      if (services.redis) await closeRedis(services.redis);
      await deps.tracing?.shutdown(); // last: the spans of the requests that just finished
      if (!auditComplete) {
        throw new Error("audit events could not be stored before shutdown (they are in the log)");
      }
    },
  };
}
