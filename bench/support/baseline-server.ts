import { ApolloServer } from "@apollo/server";
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from "@apollo/server/plugin/disabled";
import type { Server } from "node:http";
import { randomUUID } from "node:crypto";
import Fastify, { type FastifyBaseLogger } from "fastify";
import type { GraphQLSchema } from "graphql";
import type { Database } from "../../src/db/client.js";
import { OperationTransaction } from "../../src/db/transaction.js";
import { createContext } from "../../src/graphql/context.js";
import { invalidToken } from "../../src/graphql/errors.js";
import {
  formatError,
  requestIdTagging,
  variableErrorsStatus,
} from "../../src/graphql/pipeline/errors.js";
import type { OperationPipeline } from "../../src/graphql/pipeline/index.js";
import { asPlugin, composeStages } from "../../src/graphql/pipeline/stage.js";
import type { Services } from "../../src/graphql/types.js";
import type { Context } from "../../src/graphql/types.js";
import { registerCors } from "../../src/http/cors.js";
import { registerErrorResponses } from "../../src/http/error-responses.js";
import { registerGraphQLRoute } from "../../src/http/graphql-route.js";
import { operationMetrics, ServerMetrics } from "../../src/http/metrics.js";
import { parseOriginPatterns } from "../../src/http/origins.js";
import { registerRequestIdHeader } from "../../src/http/request-id.js";
import { registerSecurityHeaders } from "../../src/http/security-headers.js";
import { ANONYMOUS, loadPrincipal, verifyAuthorization } from "../../src/security/principal.js";
import { InvalidTokenError } from "../../src/security/tokens.js";
import { listenLocally } from "./http.js";

/** Writes straight to the pool, each statement committing alone: no transaction, no audit event. */
class Autocommit extends OperationTransaction {
  constructor(private readonly db: Database) {
    super(db, () => undefined);
  }

  override write(): Promise<Database> {
    return Promise.resolve(this.db);
  }
}

/**
 * buildApp's server without the operation pipeline's security stages: no admission (fair share,
 * budgets), no abuse limits, no audit log, no deadline or metered cost; the same HTTP edge
 * (request ids, security headers, CORS, error responses, metrics), route, context and resolvers
 * over the given schema and services, the principal loaded once per request as buildApp does.
 * Exists only in bench/, as the baseline that layers are measured against.
 */
export async function startBaselineServer(
  services: Services,
  schema: GraphQLSchema,
): Promise<{ url: string; http: Server; close(): Promise<void> }> {
  const { config } = services;
  const loggerInstance: FastifyBaseLogger = services.logger;
  const server = Fastify({
    loggerInstance,
    bodyLimit: config.limits.bodyBytes,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
  });
  server.removeContentTypeParser("text/plain");
  const metrics = new ServerMetrics();
  registerRequestIdHeader(server);
  await registerSecurityHeaders(server, { hsts: config.isProduction, sandbox: false });
  await registerCors(server, parseOriginPatterns(config.corsOrigins));
  registerErrorResponses(server, {
    bodyLimit: config.limits.bodyBytes,
    onRejected: (code) => metrics.reject(code),
  });
  const apollo = new ApolloServer<Context>({
    schema,
    allowBatchedHttpRequests: false,
    formatError: formatError(config, services.logger, services.databaseHealth),
    plugins: [
      ApolloServerPluginCacheControlDisabled(), // as buildApp
      ApolloServerPluginLandingPageDisabled(),
      asPlugin(requestIdTagging),
      asPlugin(variableErrorsStatus),
      composeStages([operationMetrics(metrics)]),
    ],
  });
  await apollo.start();
  const principals = new WeakMap<object, ReturnType<typeof loadPrincipal>>();
  const principalOf = async (request: Parameters<OperationPipeline["admitRequest"]>[0]) => {
    try {
      const claims = verifyAuthorization(request.headers.authorization, services.tokens);
      if (!claims) return ANONYMOUS;
      let principal = principals.get(request);
      if (!principal) {
        principal = loadPrincipal(claims, services.database.db, services.principals);
        principals.set(request, principal);
      }
      return await principal;
    } catch (error) {
      if (error instanceof InvalidTokenError) throw invalidToken();
      throw error;
    }
  };
  const autocommit = new Autocommit(services.database.db);
  const unguarded: OperationPipeline = {
    admitRequest: () => Promise.resolve(undefined),
    runOperation: (request, _operation, execute) =>
      execute(async () => {
        const context = createContext(services, {
          principal: await principalOf(request),
          requestId: request.id,
          ip: request.ip,
          userAgent: request.headers["user-agent"],
        });
        context.operation.transaction = autocommit;
        return context;
      }),
  };
  registerGraphQLRoute(server, apollo, unguarded);
  const url = await listenLocally(server);
  return {
    url,
    http: server.server,
    close: async () => {
      await server.close();
      await apollo.stop();
    },
  };
}
