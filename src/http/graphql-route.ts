import {
  type ApolloServer,
  HeaderMap,
  type HTTPGraphQLRequest,
  type HTTPGraphQLResponse,
} from "@apollo/server";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ErrorCode } from "../graphql/errors.js";
import type { Context } from "../graphql/context.js";
import { sendError } from "./error-responses.js";
import { runInRequestScope } from "./request-scope.js";

export interface GraphQLRouteOptions {
  batchLimit: number;
  /** A fresh context for one operation; called once per operation, also within a batch. */
  contextFor(request: FastifyRequest): () => Promise<Context>;
}

function headersOf(request: FastifyRequest): HeaderMap {
  const map = new HeaderMap();
  for (const [key, value] of Object.entries(request.headers)) {
    if (value !== undefined) map.set(key, Array.isArray(value) ? value.join(", ") : value);
  }
  return map;
}

function toGraphQLRequest(request: FastifyRequest, body: unknown): HTTPGraphQLRequest {
  return {
    body,
    method: request.method.toUpperCase(),
    headers: headersOf(request),
    search: new URL(request.url, "http://localhost/").search,
  };
}

function batchError(reply: FastifyReply, message: string, code: string) {
  return sendError(reply, 400, message, code);
}

const GRAPHQL_RESPONSE_JSON = "application/graphql-response+json";

/**
 * GraphQL over HTTP: with application/graphql-response+json a response without `data` (the
 * request failed before execution, e.g. variables that do not coerce) must not be a 2xx, while
 * application/json keeps 200 for it (BEHAVIOUR: BAD_USER_INPUT is 200). Only error bodies are
 * parsed to check.
 */
function statusFor(response: HTTPGraphQLResponse, body: string): number {
  const status = response.status ?? 200;
  if (status >= 300 || !response.headers.get("content-type")?.startsWith(GRAPHQL_RESPONSE_JSON)) {
    return status;
  }
  if (!body.startsWith('{"errors":')) return status;
  return (JSON.parse(body) as { data?: unknown }).data === undefined ? 400 : status;
}

/**
 * POST/GET /graphql through Apollo's executeHTTPGraphQLRequest. Batched requests (a JSON array)
 * are split here rather than by Apollo, so that every operation of a batch runs with its own
 * context (its own loaders, transaction and audit record) and the batch size is capped.
 */
export function registerGraphQLRoute(
  server: FastifyInstance,
  apollo: ApolloServer<Context>,
  options: GraphQLRouteOptions,
): void {
  const send = (reply: FastifyReply, response: HTTPGraphQLResponse) => {
    if (response.body.kind !== "complete") throw new Error("incremental delivery is not enabled");
    for (const [key, value] of response.headers) void reply.header(key, value);
    void reply.code(statusFor(response, response.body.string));
    return response.body.string;
  };

  server.route({
    method: ["GET", "POST"],
    url: "/graphql",
    handler: (request, reply) => runInRequestScope(request.id, () => handle(request, reply)),
  });

  // Other methods on the endpoint are a known resource with the wrong method, not a 404.
  server.route({
    method: ["PUT", "PATCH", "DELETE"],
    url: "/graphql",
    handler: (_request, reply) =>
      sendError(reply, 405, "Use GET (queries) or POST", ErrorCode.BAD_REQUEST, {
        allow: "GET, POST",
      }),
  });

  async function handle(request: FastifyRequest, reply: FastifyReply) {
    // Responses carry tenant and personal data: no shared or browser cache may keep them.
    void reply.header("cache-control", "no-store");
    const context = options.contextFor(request);
    if (!Array.isArray(request.body)) {
      const response = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: toGraphQLRequest(request, request.body),
        context,
      });
      return send(reply, response);
    }
    const operations = request.body as unknown[];
    if (operations.length === 0) {
      return batchError(
        reply,
        "A batched request must contain at least one operation",
        ErrorCode.BAD_REQUEST,
      );
    }
    if (operations.length > options.batchLimit) {
      return batchError(
        reply,
        `A batched request may contain at most ${options.batchLimit} operations`,
        ErrorCode.BATCH_LIMIT_EXCEEDED,
      );
    }
    const responses = await Promise.all(
      operations.map((operation) =>
        apollo.executeHTTPGraphQLRequest({
          httpGraphQLRequest: toGraphQLRequest(request, operation),
          context,
        }),
      ),
    );
    const statuses = new Set(responses.map((r) => r.status ?? 200));
    for (const [key, value] of responses[0]!.headers) void reply.header(key, value);
    void reply.code(statuses.has(401) ? 401 : statuses.size === 1 ? [...statuses][0]! : 200);
    const bodies = responses.map((r) => (r.body.kind === "complete" ? r.body.string : "null"));
    return `[${bodies.join(",")}]`;
  }
}
