/*
 * Whether a failure means "the database cannot be reached now" (an outage the client should
 * retry after) rather than a fault of the statement or of the server's code.
 */

/** Connection failures as the driver (postgres-js) and Node's sockets name them. */
const CONNECTION_ERROR_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * SQLSTATEs of a server that cannot take the work: connection exceptions (class 08), a server
 * shutting down or starting up (57P01–57P03), and no connection slot left (53300).
 */
const isUnavailableSqlState = (code: string): boolean =>
  code.startsWith("08") ||
  code === "57P01" ||
  code === "57P02" ||
  code === "57P03" ||
  code === "53300";

/** The cause of an outage, for the log: the code, and the driver's message (it names no values). */
export interface UnavailableCause {
  code: string;
  message: string;
}

/**
 * The connection failure in `error` or its causes (Drizzle wraps the driver's error), or
 * undefined when the error is anything else.
 */
export function databaseUnavailableCause(error: unknown): UnavailableCause | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current !== null && typeof current === "object"; depth++) {
    const { code, message, cause, errors } = current as {
      code?: unknown;
      message?: unknown;
      cause?: unknown;
      errors?: unknown;
    };
    if (
      typeof code === "string" &&
      (CONNECTION_ERROR_CODES.has(code) ||
        (/^[0-9A-Z]{5}$/.test(code) && isUnavailableSqlState(code)))
    ) {
      return { code, message: typeof message === "string" ? message : code };
    }
    // An AggregateError (Node's connect to each address of a host) holds the socket errors.
    current = cause ?? (Array.isArray(errors) ? (errors as unknown[])[0] : undefined);
  }
  return undefined;
}

export const isDatabaseUnavailable = (error: unknown): boolean =>
  databaseUnavailableCause(error) !== undefined;
