import helmet from "@fastify/helmet";
import type { FastifyInstance } from "fastify";

/** API responses are JSON: nothing in them may load, run, embed or be embedded. */
export const API_CSP =
  "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Exactly what Apollo's embedded Sandbox page (ApolloServerPluginLandingPageLocalDefault with
 * embed: true) loads: its two nonce'd inline scripts and the Sandbox loader script, its nonce'd
 * styles and the Google font stylesheet, the font files, the favicon and manifest, the Sandbox
 * iframe, and connections to this server (the page relays the iframe's operations with fetch).
 */
export function sandboxCsp(nonce: string): string {
  const landingCdn = "https://apollo-server-landing-page.cdn.apollographql.com";
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}' https://embeddable-sandbox.cdn.apollographql.com`,
    `style-src 'nonce-${nonce}' https://fonts.googleapis.com`,
    "font-src https://fonts.gstatic.com",
    `img-src ${landingCdn}`,
    `manifest-src ${landingCdn}`,
    "frame-src https://sandbox.embed.apollographql.com",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

const NONCE = /<script nonce="([0-9a-f]{64})"/;
export const ONE_YEAR_SECONDS = 365 * 24 * 3600;

/**
 * Security headers on every response, errors and 404s included (helmet's onRequest hook runs
 * before routing). HSTS only in production: in development the server is plain http on localhost.
 */
export async function registerSecurityHeaders(
  server: FastifyInstance,
  options: { hsts: boolean; sandbox: boolean },
): Promise<void> {
  await server.register(helmet, {
    global: true,
    contentSecurityPolicy: false, // set below, per response type
    frameguard: { action: "deny" },
    referrerPolicy: { policy: "no-referrer" },
    strictTransportSecurity: options.hsts
      ? { maxAge: ONE_YEAR_SECONDS, includeSubDomains: true }
      : false,
    crossOriginResourcePolicy: { policy: "same-origin" },
    crossOriginOpenerPolicy: { policy: "same-origin" },
    crossOriginEmbedderPolicy: false,
  });
  server.addHook("onRequest", async (_request, reply) => {
    void reply.header("content-security-policy", API_CSP);
  });
  if (!options.sandbox) return;
  // The Sandbox page carries a fresh nonce in its own <meta> CSP; the header must allow the same
  // nonce, or the browser (which enforces both policies) would block the page's scripts.
  server.addHook("onSend", async (_request, reply, payload) => {
    const type = reply.getHeader("content-type");
    if (typeof payload !== "string" || typeof type !== "string" || !type.startsWith("text/html")) {
      return payload;
    }
    const nonce = NONCE.exec(payload)?.[1];
    if (nonce) void reply.header("content-security-policy", sandboxCsp(nonce));
    return payload;
  });
}
