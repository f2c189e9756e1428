import {
  type ApolloServer,
  HeaderMap,
  type HTTPGraphQLRequest,
  type HTTPGraphQLResponse,
} from "@apollo/server";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ErrorCode } from "../graphql/errors.js";
import type { Context } from "../graphql/context.js";
import { tagWithRequestId } from "../graphql/format-error.js";
import { sendError } from "./error-responses.js";

/** The audit record of one operation (src/security/audit). */
export interface OperationRecord {
  attach(context: Context): Context;
  /** Records the operation from its HTTP response unless the plugin already did. */
  recordHttpResponse(response: HTTPGraphQLResponse): Promise<void>;
  recordRefusal(code: string): Promise<void>;
}

export interface OperationAuditor {
  /** False when the operations cannot be audited now: they are refused with 503. */
  admit(operations: number): boolean;
  begin(request: FastifyRequest, operation: unknown): OperationRecord;
}

export interface GraphQLRouteOptions {
  batchLimit: number;
  /** A fresh context for one operation; called once per operation, also within a batch. */
  contextFor(request: FastifyRequest): () => Promise<Context>;
  /** Admits operations and records one audit event for each, whatever its fate. */
  audit: OperationAuditor;
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

function batchError(reply: FastifyReply, message: string, code: string, status = 400) {
  return sendError(reply, status, message, code);
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
function finishResponse(
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
    const { status, body } = finishResponse(response, reply.request.id);
    for (const [key, value] of response.headers) void reply.header(key, value);
    void reply.code(status);
    return body;
  };

  /** Runs one operation and records its audit event if Apollo's plugin did not (e.g. a 401). */
  const execute = async (
    request: FastifyRequest,
    operation: unknown,
    context: () => Promise<Context>,
  ) => {
    const audit = options.audit.begin(request, operation);
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: toGraphQLRequest(request, operation),
      context: async () => {
        try {
          return audit.attach(await context());
        } catch (error) {
          tagWithRequestId(error, request.id); // Apollo formats it outside any operation hook
          throw error;
        }
      },
    });
    await audit.recordHttpResponse(response);
    return response;
  };

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
    const context = options.contextFor(request);
    const operations = Array.isArray(request.body) ? (request.body as unknown[]) : undefined;
    const refusal =
      operations?.length === 0
        ? {
            message: "A batched request must contain at least one operation",
            code: ErrorCode.BAD_REQUEST,
          }
        : operations && operations.length > options.batchLimit
          ? {
              message: `A batched request may contain at most ${options.batchLimit} operations`,
              code: ErrorCode.BATCH_LIMIT_EXCEEDED,
            }
          : undefined;
    if (!options.audit.admit(operations && !refusal ? operations.length : 1)) {
      void reply.header("retry-after", "1");
      return batchError(
        reply,
        "The server cannot take operations right now",
        ErrorCode.SERVICE_UNAVAILABLE,
        503,
      );
    }
    if (refusal) {
      await options.audit.begin(request, undefined).recordRefusal(refusal.code);
      return batchError(reply, refusal.message, refusal.code);
    }
    if (!operations) {
      return send(reply, await execute(request, request.body, context));
    }
    const responses = await Promise.all(
      operations.map((operation) => execute(request, operation, context)),
    );
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
