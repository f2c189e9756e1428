import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { ErrorCode } from "../graphql/errors.js";
import { API_CSP, ONE_YEAR_SECONDS } from "./security-headers.js";

/** What Node's HTTP parser refuses, by its error code: the status and a fixed message. */
function refusalOf(code: string | undefined): { status: number; reason: string; message: string } {
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return {
      status: 408,
      reason: "Request Timeout",
      message: "The request did not arrive in time",
    };
  }
  if (code === "HPE_HEADER_OVERFLOW") {
    return {
      status: 431,
      reason: "Request Header Fields Too Large",
      message: "The request's headers are too large",
    };
  }
  return { status: 400, reason: "Bad Request", message: "The request is not valid HTTP/1.1" };
}

/**
 * Answers a request the HTTP parser refused before Fastify saw it (a malformed header line,
 * both Content-Length and Transfer-Encoding, headers too large, a request that never finished)
 * the way every other refusal is answered: the API's error shape with a stable code and a
 * request id, and the security headers. Fastify's default is a bare body without either.
 */
export function clientErrorHandler(options: { hsts: boolean; logger: Logger }) {
  return (error: Error & { code?: string }, socket: Socket): void => {
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const { status, reason, message } = refusalOf(error.code);
    const requestId = randomUUID();
    options.logger.debug(
      { reqId: requestId, code: error.code, status },
      "refused by the HTTP parser",
    );
    // as Node's own handler: never into a response already under way (a pipelined request)
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const body = JSON.stringify({
        errors: [{ message, extensions: { code: ErrorCode.BAD_REQUEST, requestId } }],
      });
      const headers = [
        `HTTP/1.1 ${status} ${reason}`,
        "Content-Type: application/json; charset=utf-8",
        `Content-Length: ${Buffer.byteLength(body)}`,
        "Cache-Control: no-store",
        `Content-Security-Policy: ${API_CSP}`,
        "X-Content-Type-Options: nosniff",
        "X-Frame-Options: DENY",
        "Referrer-Policy: no-referrer",
        "Cross-Origin-Resource-Policy: same-origin",
        ...(options.hsts
          ? [`Strict-Transport-Security: max-age=${ONE_YEAR_SECONDS}; includeSubDomains`]
          : []),
        `X-Request-Id: ${requestId}`,
        "Connection: close",
      ];
      socket.write(`${headers.join("\r\n")}\r\n\r\n${body}`);
    }
    socket.destroy(error);
  };
}
