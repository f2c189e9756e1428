import { ApolloServer } from "@apollo/server";
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from "@apollo/server/plugin/disabled";
import type { Server } from "node:http";
import { randomUUID } from "node:crypto";
import Fastify, { type FastifyBaseLogger } from "fastify";
import type { GraphQLSchema } from "graphql";
import { type Context, type Services } from "../../src/graphql/context.js";
import { formatError, requestIdPlugin } from "../../src/graphql/format-error.js";
import { variableErrorsStatusPlugin } from "../../src/graphql/variable-errors-status.js";
import { registerCors } from "../../src/http/cors.js";
import { registerErrorResponses } from "../../src/http/error-responses.js";
import { metricsPlugin, ServerMetrics } from "../../src/http/metrics.js";
import { parseOriginPatterns } from "../../src/http/origins.js";
import { registerRequestIdHeader } from "../../src/http/request-id.js";
import { registerSecurityHeaders } from "../../src/http/security-headers.js";
import { type OperationRecord, registerGraphQLRoute } from "../../src/http/graphql-route.js";
import { listenLocally } from "./http.js";
import { operationContexts } from "../../src/http/operation-context.js";

/**
 * buildApp's server with no audit log and no abuse limits (no plugin, no validation rules, no
 * resolver meter, no budget): the same HTTP edge (request ids, security headers, CORS, error
 * responses, metrics), route, context and resolvers over the given schema and services.
 * Exists only in bench/, as the baseline that layers are measured against.
 */
export async function startBareServer(
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
    formatError: formatError(config, services.logger),
    plugins: [
      ApolloServerPluginCacheControlDisabled(), // as buildApp
      ApolloServerPluginLandingPageDisabled(),
      requestIdPlugin(),
      variableErrorsStatusPlugin(),
      metricsPlugin(metrics),
    ],
  });
  await apollo.start();
  const unaudited: OperationRecord = {
    attach: (context) => context,
    recordHttpResponse: () => Promise.resolve(),
    recordRefusal: () => Promise.resolve(),
  };
  registerGraphQLRoute(server, apollo, {
    batchLimit: config.limits.batch,
    audit: { admit: () => true, begin: () => unaudited },
    contextFor: operationContexts(services),
  });
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
