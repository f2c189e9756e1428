import cors from "@fastify/cors";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ErrorCode } from "../graphql/errors.js";
import { sendError } from "./error-responses.js";
import { originAllowed, type OriginPattern } from "./origins.js";
import { RecentKeys } from "./recent-keys.js";

/**
 * What a GraphQL SPA sends: a bearer token, JSON, Apollo's CSRF-prevention headers, Apollo
 * Client's client-awareness headers (its `name`/`version` options) and W3C trace context
 * (OpenTelemetry's browser instrumentation).
 */
const ALLOWED_HEADERS = [
  "authorization",
  "content-type",
  "apollo-require-preflight",
  "x-apollo-operation-name",
  "apollographql-client-name",
  "apollographql-client-version",
  "traceparent",
  "tracestate",
];
const ALLOWED_METHODS = ["GET", "POST", "OPTIONS"];
/** Response headers an SPA needs to read beyond the CORS-safelisted ones. */
const EXPOSED_HEADERS = ["retry-after", "www-authenticate", "x-request-id"];
const PREFLIGHT_MAX_AGE_SECONDS = 600;
/** Origins (and header sets) whose refusal was logged lately: one warning each, bounded memory. */
const REMEMBERED_REFUSALS = 1_000;
/**
 * Enough of an Origin header (or of a header name asked for) to recognise it in a log line, and
 * the most names one warning lists: the rest is the sender's to waste, not our memory or logs.
 */
const LOGGED_TEXT_LENGTH = 200;
const LOGGED_ASKS = 10;

const isPreflight = (
  request: FastifyRequest,
): request is FastifyRequest & {
  headers: { origin: string; "access-control-request-method": string };
} =>
  request.method === "OPTIONS" &&
  typeof request.headers.origin === "string" &&
  typeof request.headers["access-control-request-method"] === "string";

/** What a preflight asks for that the answer will not allow (the browser then refuses the request). */
function unallowedAsks(request: FastifyRequest): string[] {
  const method = String(request.headers["access-control-request-method"]);
  const headers = String(request.headers["access-control-request-headers"] ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  return [
    ...(ALLOWED_METHODS.includes(method) ? [] : [`method ${method}`]),
    ...headers.filter((name) => !ALLOWED_HEADERS.includes(name)).map((name) => `header ${name}`),
  ]
    .slice(0, LOGGED_ASKS)
    .map((ask) => ask.slice(0, LOGGED_TEXT_LENGTH));
}

/**
 * CORS for browser apps on the allowed origins only. Tokens travel in the Authorization header,
 * so credentials mode (cookies) stays off. A preflight from any other origin is answered 403
 * without CORS headers (so the browser blocks the request) and logged once per origin, for the
 * developer wondering why their app cannot connect; a request that needs no preflight gets no
 * CORS headers, and the browser keeps its response from the page.
 *
 * A preflight from an allowed origin that asks for a method or header not allowed here is
 * answered with the allowed lists all the same, as the Fetch standard has it: the browser
 * compares and refuses, naming what was missing; the server logs it once.
 */
export async function registerCors(
  server: FastifyInstance,
  allowedOrigins: readonly OriginPattern[],
): Promise<void> {
  const refusedOrigins = new RecentKeys(REMEMBERED_REFUSALS);
  const unallowedAsked = new RecentKeys(REMEMBERED_REFUSALS);
  // Before @fastify/cors's own hook, which would pass a refused preflight on to a 404.
  server.addHook("onRequest", async (request, reply) => {
    if (!isPreflight(request)) return;
    const origin = request.headers.origin;
    const logged = origin.slice(0, LOGGED_TEXT_LENGTH);
    if (originAllowed(origin, allowedOrigins)) {
      const asks = unallowedAsks(request);
      if (asks.length > 0 && unallowedAsked.see(`${logged} ${asks.join()}`)) {
        request.log.warn(
          { origin: logged, notAllowed: asks },
          "CORS preflight asks for what this server does not allow: the browser will refuse the request",
        );
      }
      return;
    }
    if (refusedOrigins.see(logged)) {
      request.log.warn(
        { origin: logged },
        "CORS preflight refused: origin not in CORS_ORIGINS (logged once per origin)",
      );
    }
    void reply.header("vary", "Origin");
    return sendError(
      reply,
      403,
      "Cross-origin request refused: this origin is not allowed",
      ErrorCode.FORBIDDEN,
    );
  });
  await server.register(cors, {
    origin: (origin, callback) => {
      callback(null, origin !== undefined && originAllowed(origin, allowedOrigins));
    },
    methods: ALLOWED_METHODS,
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    credentials: false,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
    strictPreflight: false,
  });
}
