import type { FastifyError, FastifyInstance, FastifyReply } from "fastify";
import { databaseUnavailableCause } from "../db/availability.js";
import {
  DATABASE_RETRY_AFTER_SECONDS,
  DATABASE_UNAVAILABLE_MESSAGE,
  ErrorCode,
} from "../graphql/errors.js";

/** A GraphQL-shaped error body, so every client parses every failure the same way. */
export function sendError(
  reply: FastifyReply,
  status: number,
  message: string,
  code: string,
  headers: Record<string, string> = {},
  extensions: Record<string, unknown> = {},
): FastifyReply {
  return reply
    .code(status)
    .headers(headers)
    .type("application/json; charset=utf-8")
    .send({
      errors: [{ message, extensions: { code, ...extensions, requestId: reply.request.id } }],
    });
}

/**
 * Fixed messages for what the framework refuses before GraphQL runs. The framework's own
 * messages can quote the body (a JSON parser's "Unexpected token … in …"), so they are not
 * passed on.
 */
function clientErrorMessage(error: FastifyError, bodyLimit: number): string {
  switch (error.statusCode) {
    case 413:
      return `Request body is larger than ${bodyLimit} bytes`;
    case 415:
      return "Unsupported Content-Type: send application/json";
    default:
      return error.code === "FST_ERR_CTP_EMPTY_JSON_BODY"
        ? "Request body is empty"
        : error.code?.startsWith("FST_ERR_CTP") || error instanceof SyntaxError
          ? "Request body is not valid JSON"
          : "Bad request";
  }
}

/**
 * Errors outside GraphQL (body parsing, size, media type, unknown routes, bugs) answer as JSON
 * with a stable code: never a framework error page or a stack trace. 5xx detail is logged only.
 */
export function registerErrorResponses(
  server: FastifyInstance,
  options: { bodyLimit: number; onRejected?: (code: string) => void },
): void {
  server.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      options.onRejected?.(ErrorCode.BAD_REQUEST);
      return sendError(
        reply,
        status,
        clientErrorMessage(error, options.bodyLimit),
        ErrorCode.BAD_REQUEST,
      );
    }
    const outage = databaseUnavailableCause(error);
    if (outage) {
      request.log.warn({ cause: outage }, "request failed: the database is unreachable");
      return sendError(reply, 503, DATABASE_UNAVAILABLE_MESSAGE, ErrorCode.SERVICE_UNAVAILABLE, {
        "retry-after": String(DATABASE_RETRY_AFTER_SECONDS),
      });
    }
    request.log.error({ err: error }, "unhandled error");
    return sendError(reply, 500, "Internal server error", ErrorCode.INTERNAL_SERVER_ERROR);
  });

  server.setNotFoundHandler((_request, reply) =>
    sendError(reply, 404, "Not found", ErrorCode.NOT_FOUND),
  );
}
