import { GraphQLError, type GraphQLErrorExtensions } from "graphql";

/** The stable error codes of BEHAVIOUR.md. Clients branch on these, never on messages. */
export const ErrorCode = {
  UNAUTHENTICATED: "UNAUTHENTICATED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  BAD_USER_INPUT: "BAD_USER_INPUT",
  GRAPHQL_PARSE_FAILED: "GRAPHQL_PARSE_FAILED",
  GRAPHQL_VALIDATION_FAILED: "GRAPHQL_VALIDATION_FAILED",
  DEPTH_LIMIT_EXCEEDED: "DEPTH_LIMIT_EXCEEDED",
  COST_LIMIT_EXCEEDED: "COST_LIMIT_EXCEEDED",
  ALIAS_LIMIT_EXCEEDED: "ALIAS_LIMIT_EXCEEDED",
  TOKEN_LIMIT_EXCEEDED: "TOKEN_LIMIT_EXCEEDED",
  DIRECTIVE_LIMIT_EXCEEDED: "DIRECTIVE_LIMIT_EXCEEDED",
  BATCH_LIMIT_EXCEEDED: "BATCH_LIMIT_EXCEEDED",
  RATE_LIMITED: "RATE_LIMITED",
  /** Execution passed EXECUTION_TIMEOUT_MS; fields not yet resolved are left out. */
  EXECUTION_TIMEOUT: "EXECUTION_TIMEOUT",
  INTERNAL_SERVER_ERROR: "INTERNAL_SERVER_ERROR",
  /** 503: the server cannot take operations now (e.g. its audit log cannot keep up). */
  SERVICE_UNAVAILABLE: "SERVICE_UNAVAILABLE",
  /** Trusted documents (README): only a manifest's documents, by id, for users and anonymous callers. */
  PERSISTED_QUERY_REQUIRED: "PERSISTED_QUERY_REQUIRED",
  /** A `documentId` that no loaded manifest has. */
  PERSISTED_QUERY_NOT_FOUND: "PERSISTED_QUERY_NOT_FOUND",
  /** A `documentId` (or an APQ hash, Apollo's refusal) sent to a server that takes none. */
  PERSISTED_QUERY_NOT_SUPPORTED: "PERSISTED_QUERY_NOT_SUPPORTED",
  /** HTTP-level refusals before GraphQL runs (bad JSON, media type, size, method, CSRF); Apollo's code. */
  BAD_REQUEST: "BAD_REQUEST",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * An error the client caused: expected, frequent under a flood (a refused request, a denied
 * field on each row of a page), never a bug, so it is made without a stack trace. Capturing one
 * was an eighth of the server's work per refused request.
 */
export function clientError(message: string, extensions: GraphQLErrorExtensions): GraphQLError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new GraphQLError(message, { extensions });
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export const badUserInput = (field: string, message: string): GraphQLError =>
  clientError(message, { code: ErrorCode.BAD_USER_INPUT, field });

export const notFound = (): GraphQLError => clientError("Not found", { code: ErrorCode.NOT_FOUND });

export const forbidden = (): GraphQLError =>
  clientError("Not authorized", { code: ErrorCode.FORBIDDEN });

/**
 * A field refused to an anonymous caller: UNAUTHENTICATED (200, partial data), so that an SPA
 * knows to send its user to sign in; a signed-in principal refused a field gets FORBIDDEN.
 */
export const signInRequired = (): GraphQLError =>
  clientError("Authentication required", { code: ErrorCode.UNAUTHENTICATED });

/** The refusal of a field to this principal. */
export const deniedTo = (principal: { kind: string }): GraphQLError =>
  principal.kind === "anonymous" ? signInRequired() : forbidden();

/** Wrong credentials: one message whatever was wrong (no account enumeration). */
export const invalidCredentials = (): GraphQLError =>
  clientError("Invalid credentials", { code: ErrorCode.UNAUTHENTICATED });

/** A bad bearer token refuses the whole request with 401 (RFC 6750). */
export const invalidToken = (): GraphQLError =>
  clientError("Invalid or expired token", {
    code: ErrorCode.UNAUTHENTICATED,
    http: {
      status: 401,
      headers: new Map([["www-authenticate", 'Bearer error="invalid_token"']]),
    },
  });

/** 503: the server cannot take this work now (it says so at once rather than at a deadline). */
export const serviceUnavailable = (message: string, retryAfterSeconds = 1): GraphQLError =>
  clientError(message, {
    code: ErrorCode.SERVICE_UNAVAILABLE,
    http: { status: 503, headers: new Map([["retry-after", String(retryAfterSeconds)]]) },
  });

export const DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable; retry later";
export const DATABASE_RETRY_AFTER_SECONDS = 1;

/** 503: the database cannot be reached (an outage: the client retries, it is not a bug). */
export const databaseUnavailable = (): GraphQLError =>
  serviceUnavailable(DATABASE_UNAVAILABLE_MESSAGE, DATABASE_RETRY_AFTER_SECONDS);

/**
 * A limit is exhausted (auth attempts, cost budget): 429 with Retry-After, and the same seconds
 * in extensions.retryAfterSeconds, for every RATE_LIMITED refusal alike.
 */
export const rateLimited = (
  retryAfterSeconds: number,
  message = "Too many requests, retry later",
): GraphQLError =>
  clientError(message, {
    code: ErrorCode.RATE_LIMITED,
    retryAfterSeconds,
    http: {
      status: 429,
      headers: new Map([["retry-after", String(retryAfterSeconds)]]),
    },
  });
