import { type ApolloServer, HeaderMap } from "@apollo/server";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { OperationPipeline } from "../graphql/pipeline/index.js";
import type { Context } from "../graphql/types.js";
import type { SchemaViews } from "../security/authz/schema-view.js";
import type { Principal } from "../security/principal.js";
import { sendError } from "./error-responses.js";
import { finishResponse } from "./graphql-route.js";

/**
 * What GET /schema.graphql runs through the operation pipeline: reading the schema is an
 * operation like any other, so the token, the introspection setting, the fair share, the budget
 * and the audit log treat it exactly as they treat introspection on /graphql.
 */
const READ_SCHEMA = {
  query: "query ReadSchema { __schema { __typename } }",
  operationName: "ReadSchema",
};

/**
 * GET /schema.graphql: the caller's view of the schema as SDL (the ADMIN's view is
 * schema/schema.graphql). Refused as introspection would be: 401 without a token under
 * INTROSPECTION=authenticated, 400 under INTROSPECTION=off, each with a GraphQL error body.
 */
export function registerSchemaRoute(
  server: FastifyInstance,
  apollo: ApolloServer<Context>,
  pipeline: OperationPipeline,
  views: SchemaViews,
): void {
  server.get("/schema.graphql", async (request: FastifyRequest, reply: FastifyReply) => {
    void reply.header("cache-control", "no-store"); // a view depends on the token
    const refusal = await pipeline.admitRequest(request, undefined);
    if (refusal) {
      const { status, message, code, headers, extensions } = refusal;
      return sendError(reply, status, message, code, headers, extensions);
    }
    let principal: Principal | undefined;
    const response = await pipeline.runOperation(request, READ_SCHEMA, (context) =>
      apollo.executeHTTPGraphQLRequest({
        // The request as the pipeline's own (a GET without a preflight header is CSRF-refused).
        httpGraphQLRequest: {
          method: "POST",
          headers: new HeaderMap([["content-type", "application/json"]]),
          body: READ_SCHEMA,
          search: "",
        },
        context: async () => {
          const value = await context();
          principal = value.principal;
          return value;
        },
      }),
    );
    const { status, body } = finishResponse(response, request.id);
    const refused = status !== 200 || (JSON.parse(body) as { errors?: unknown }).errors;
    if (refused || !principal) {
      for (const [key, value] of response.headers) void reply.header(key, value);
      return reply.code(status).type("application/json; charset=utf-8").send(body);
    }
    return reply.type("text/plain; charset=utf-8").send(views.of(principal).sdl);
  });
}
