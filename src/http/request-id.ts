import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { FastifyInstance } from "fastify";
import type { ProxyTrust } from "./proxy-trust.js";

/**
 * An X-Request-Id worth keeping: what proxies and tracing tools send (UUIDs, nginx's hex
 * $request_id, ULIDs, base64url, "host:1234-5"), nothing that could break a log line or a header.
 */
const WELL_FORMED_REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * A request's id: the X-Request-Id a trusted proxy sent, when it is well-formed, so that the
 * proxy's logs, this server's and the audit trail share one key; otherwise a fresh UUID. A client
 * that reaches the server directly cannot choose the id its requests are logged under.
 */
export function requestIdGenerator(
  trust: ProxyTrust | undefined,
): (request: IncomingMessage) => string {
  return (request) => {
    const incoming = request.headers["x-request-id"];
    const peer = request.socket.remoteAddress;
    const keep =
      trust !== undefined &&
      typeof incoming === "string" &&
      WELL_FORMED_REQUEST_ID.test(incoming) &&
      peer !== undefined &&
      trust(peer, 0);
    return keep ? incoming : randomUUID();
  };
}

/** Every response names its request id, the key to its log lines and to support requests. */
export function registerRequestIdHeader(server: FastifyInstance): void {
  server.addHook("onRequest", async (request, reply) => {
    void reply.header("x-request-id", request.id);
  });
}
