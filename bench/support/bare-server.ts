import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import Fastify from "fastify";
import type { GraphQLSchema } from "graphql";
import { type Context, createContext, type Services } from "../../src/graphql/context.js";
import { invalidToken } from "../../src/graphql/errors.js";
import { formatError } from "../../src/graphql/format-error.js";
import { type OperationRecord, registerGraphQLRoute } from "../../src/http/graphql-route.js";
import { resolvePrincipal } from "../../src/security/principal.js";
import { InvalidTokenError } from "../../src/security/tokens.js";
import { listenLocally } from "./http.js";

/**
 * The GraphQL route of buildApp with no audit log and no abuse limits (no plugin, no validation
 * rules, no resolver meter, no budget): the same route, context and resolvers over the given
 * schema and services. Exists only in bench/, as the baseline that layers are measured against.
 */
export async function startBareServer(
  services: Services,
  schema: GraphQLSchema,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = Fastify({ logger: false });
  const apollo = new ApolloServer<Context>({
    schema,
    allowBatchedHttpRequests: false,
    formatError: formatError(services.config, services.logger),
    plugins: [ApolloServerPluginLandingPageDisabled()],
  });
  await apollo.start();
  const unaudited: OperationRecord = {
    attach: (context) => context,
    recordHttpResponse: () => Promise.resolve(),
    recordRefusal: () => Promise.resolve(),
  };
  registerGraphQLRoute(server, apollo, {
    batchLimit: services.config.limits.batch,
    audit: { admit: () => true, begin: () => unaudited },
    contextFor: (request) => async () => {
      try {
        const principal = await resolvePrincipal(
          request.headers.authorization,
          services.tokens,
          services.database.db,
        );
        return createContext(services, {
          principal,
          requestId: request.id,
          ip: request.ip,
          userAgent: request.headers["user-agent"],
        });
      } catch (error) {
        if (error instanceof InvalidTokenError) throw invalidToken();
        throw error;
      }
    },
  });
  const url = await listenLocally(server);
  return {
    url,
    close: async () => {
      await server.close();
      await apollo.stop();
    },
  };
}
