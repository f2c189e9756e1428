import cors from "@fastify/cors";
import type { FastifyInstance } from "fastify";
import { originAllowed, type OriginPattern } from "./origins.js";

/** What a GraphQL SPA sends: a bearer token, JSON, and Apollo's CSRF-prevention headers. */
const ALLOWED_HEADERS = [
  "authorization",
  "content-type",
  "apollo-require-preflight",
  "x-apollo-operation-name",
];
/** Response headers an SPA needs to read beyond the CORS-safelisted ones. */
const EXPOSED_HEADERS = ["retry-after", "www-authenticate", "x-request-id"];
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * CORS for browser apps on the allowed origins only. Tokens travel in the Authorization header,
 * so credentials mode (cookies) stays off; any other origin gets no CORS headers at all and the
 * browser keeps the response from the page.
 */
export async function registerCors(
  server: FastifyInstance,
  allowedOrigins: readonly OriginPattern[],
): Promise<void> {
  await server.register(cors, {
    origin: (origin, callback) => {
      callback(null, origin !== undefined && originAllowed(origin, allowedOrigins));
    },
    methods: ["GET", "POST", "OPTIONS"],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    credentials: false,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
    strictPreflight: false,
  });
}
