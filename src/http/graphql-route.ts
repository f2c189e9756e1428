import {
  type ApolloServer,
  HeaderMap,
  type HTTPGraphQLRequest,
  type HTTPGraphQLResponse,
} from "@apollo/server";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ErrorCode } from "../graphql/errors.js";
import type { OperationPipeline } from "../graphql/pipeline/index.js";
import { tagWithRequestId } from "../graphql/pipeline/errors.js";
import { type SentOperation, sentRequest } from "../graphql/trusted-documents/sent-operations.js";
import type { TrustedDocuments } from "../graphql/trusted-documents/store.js";
import type { Context } from "../graphql/types.js";
import { sendError } from "./error-responses.js";

function headersOf(request: FastifyRequest): HeaderMap {
  const map = new HeaderMap();
  for (const [key, value] of Object.entries(request.headers)) {
    if (value !== undefined) map.set(key, Array.isArray(value) ? value.join(", ") : value);
  }
  return map;
}

function toGraphQLRequest(request: FastifyRequest, operation: SentOperation): HTTPGraphQLRequest {
  return {
    body: operation.body,
    method: request.method.toUpperCase(),
    headers: headersOf(request),
    search: operation.search,
  };
}

const GRAPHQL_RESPONSE_JSON = "application/graphql-response+json";

interface ErrorsBody {
  data?: unknown;
  errors?: { extensions?: Record<string, unknown> }[];
}

/**
 * The status and body to send for one operation's response.
 * - GraphQL over HTTP: with application/graphql-response+json a response without `data` (the
 *   request failed before execution, e.g. variables that do not coerce) must not be a 2xx,
 *   while application/json keeps 200 for it (BEHAVIOUR: BAD_USER_INPUT is 200).
 * - A refusal (4xx/5xx) may come from Apollo's checks of the HTTP request itself, which format
 *   their error before any operation hook could tag it with the request id: it gets it here.
 * Only bodies with errors that are refusals or may need the status change are parsed.
 */
export function finishResponse(
  response: HTTPGraphQLResponse,
  requestId: string,
): { status: number; body: string } {
  if (response.body.kind !== "complete") throw new Error("incremental delivery is not enabled");
  const body = response.body.string;
  const status = response.status ?? 200;
  const strict = response.headers.get("content-type")?.startsWith(GRAPHQL_RESPONSE_JSON) ?? false;
  if (!body.startsWith('{"errors":') || (status < 300 && !strict)) return { status, body };
  const parsed = JSON.parse(body) as ErrorsBody;
  const untagged =
    status >= 300 ? (parsed.errors ?? []).filter((e) => e.extensions?.requestId === undefined) : [];
  for (const error of untagged) error.extensions = { ...error.extensions, requestId };
  return {
    status: strict && status < 300 && parsed.data === undefined ? 400 : status,
    body: untagged.length > 0 ? `${JSON.stringify(parsed)}\n` : body,
  };
}

/**
 * POST/GET /graphql through Apollo's executeHTTPGraphQLRequest: the HTTP side of the operation
 * pipeline (src/graphql/pipeline). Batched requests (a JSON array) are split here rather than by
 * Apollo, so that every operation of a batch runs with its own context (its own loaders,
 * transaction, fair-share slot and audit record) and the batch size is capped. An operation
 * may name a trusted document by `documentId` instead of sending its text (README "Trusted
 * documents"): `documents` are the loaded ones, undefined when the feature is off.
 */
export function registerGraphQLRoute(
  server: FastifyInstance,
  apollo: ApolloServer<Context>,
  pipeline: OperationPipeline,
  documents?: TrustedDocuments,
): void {
  const send = (reply: FastifyReply, response: HTTPGraphQLResponse) => {
    const { status, body } = finishResponse(response, reply.request.id);
    for (const [key, value] of response.headers) void reply.header(key, value);
    void reply.code(status);
    return body;
  };

  const execute = (request: FastifyRequest, operation: SentOperation) =>
    pipeline.runOperation(request, operation.body, (context) =>
      apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: toGraphQLRequest(request, operation),
        context: async () => {
          try {
            return await context();
          } catch (error) {
            tagWithRequestId(error, request.id); // Apollo formats it outside any operation hook
            throw error;
          }
        },
      }),
    );

  server.route({
    method: ["GET", "POST"],
    url: "/graphql",
    handler: handle,
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
    const sent = sentRequest(request, documents);
    const { operations } = sent;
    const refusal = await pipeline.admitRequest(request, sent.batch, {
      refusal: sent.refusal,
      arbitrary: operations.some((operation) => operation.ownDocument),
    });
    if (refusal) {
      const { status, message, code, headers, extensions } = refusal;
      return sendError(reply, status, message, code, headers, extensions);
    }
    if (!sent.batch) return send(reply, await execute(request, operations[0]!));
    const responses = await Promise.all(operations.map((operation) => execute(request, operation)));
    const statuses = new Set(responses.map((r) => r.status ?? 200));
    for (const [key, value] of responses[0]!.headers) void reply.header(key, value);
    // An operation refused for its budget tells the client when to retry, whatever its place.
    const retryAfter = Math.max(
      0,
      ...responses.map((r) => Number(r.headers.get("retry-after") ?? 0)),
    );
    if (retryAfter > 0) void reply.header("retry-after", String(retryAfter));
    void reply.code(statuses.has(401) ? 401 : statuses.size === 1 ? [...statuses][0]! : 200);
    const bodies = responses.map((r) => finishResponse(r, request.id).body);
    return `[${bodies.join(",")}]`;
  }
}
