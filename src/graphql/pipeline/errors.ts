/*
 * How errors leave the server: every error carries its request id, unexpected ones say nothing
 * but "Internal server error" outside development, input errors never echo a value, and bad
 * variables keep the status of every other BAD_USER_INPUT.
 */
import type { GraphQLRequestListener } from "@apollo/server";
import type { GraphQLFormattedError } from "graphql";
import type { Logger } from "pino";
import type { Config } from "../../config.js";
import type { DatabaseHealth } from "../../db/health.js";
import {
  DATABASE_RETRY_AFTER_SECONDS,
  DATABASE_UNAVAILABLE_MESSAGE,
  ErrorCode,
} from "../errors.js";
import { redactSyntaxError } from "../syntax-errors.js";
import { fieldSuggestionsEnabled, withoutSuggestions } from "../suggestions.js";
import type { Context } from "../types.js";

const REQUEST_ID = Symbol("requestId");
const OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE";

/**
 * Marks an error with the id of the request it belongs to. Apollo calls formatError with the
 * error alone, so the request id travels on the error object: each error Apollo formats is
 * created for its request (graphql-js locates every resolver error anew), never shared.
 * An AsyncLocalStorage carried it before, at the price of an async hook on every promise of
 * every request (docs/performance.md).
 */
export function tagWithRequestId(error: unknown, requestId: string): void {
  // a frozen error from a library stays untagged rather than failing its request
  if (typeof error === "object" && error !== null && Object.isExtensible(error)) {
    (error as Record<symbol, unknown>)[REQUEST_ID] = requestId;
  }
}

const tagOf = (error: unknown): string | undefined => {
  const tag = (error as Record<symbol, unknown> | null | undefined)?.[REQUEST_ID];
  return typeof tag === "string" ? tag : undefined;
};

/** The error's tag, or that of the error Apollo wrapped (a failed context that threw a non-GraphQLError). */
const requestIdOf = (error: unknown): string | undefined =>
  tagOf(error) ?? tagOf((error as { originalError?: unknown } | null)?.originalError);

/**
 * Tags every error of an operation with its request id before Apollo formats it (Apollo passes
 * didEncounterErrors the very objects it then hands to formatError). Errors Apollo formats
 * outside an operation (a malformed HTTP request, a failed context) are the route's to tag.
 * One listener for every request: it reads the request's context and keeps no state.
 */
export const requestIdTagging: GraphQLRequestListener<Context> = {
  didEncounterErrors: ({ errors, contextValue }) => {
    for (const error of errors) tagWithRequestId(error, contextValue.requestId);
    return Promise.resolve();
  },
};

/**
 * Variables that do not fit the operation's types are BAD_USER_INPUT, answered with 200 under
 * application/json like every other BAD_USER_INPUT (BEHAVIOUR.md; the route still answers 400
 * under application/graphql-response+json, as GraphQL over HTTP asks). Apollo Server 5 answers
 * them with 400, and its switch back to 200 (`status400ForVariableCoercionErrors: false`) is
 * deprecated, to be removed in v6: this keeps the contract without it.
 *
 * Apollo's 400 is set for an executed operation whose result has errors and no `data`, which
 * only variable coercion produces; the code check keeps any other 400 (parse, validation,
 * limits) as it is.
 */
export const variableErrorsStatus: GraphQLRequestListener<Context> = {
  willSendResponse: ({ response }) => {
    if (response.http.status === 400 && response.body.kind === "single") {
      const { data, errors } = response.body.singleResult;
      const onlyBadVariables =
        data === undefined &&
        errors !== undefined &&
        errors.length > 0 &&
        errors.every((error) => error.extensions?.code === ErrorCode.BAD_USER_INPUT);
      if (onlyBadVariables) response.http.status = 200;
    }
    return Promise.resolve();
  },
};

/**
 * An operation that met a database outage answers 503 with Retry-After (formatError has made
 * those errors SERVICE_UNAVAILABLE), so that clients and proxies retry instead of reporting a bug.
 */
export const databaseUnavailableStatus: GraphQLRequestListener<Context> = {
  willSendResponse: ({ response }) => {
    if (response.body.kind !== "single") return Promise.resolve();
    const { errors } = response.body.singleResult;
    if (errors?.some((e) => e.extensions?.code === ErrorCode.SERVICE_UNAVAILABLE)) {
      response.http.status = 503;
      response.http.headers.set("retry-after", String(DATABASE_RETRY_AFTER_SECONDS));
    }
    return Promise.resolve();
  },
};

/**
 * Every error carries the request id (clients quote it, operators find the log line by it).
 * Unexpected errors keep their detail in the server log only: the client gets a generic
 * message and code (never SQL, a stack trace or a value), except in development. Input errors
 * name the variable, path and rule, never the rejected value (it may be personal data).
 */
export function formatError(config: Config, logger: Logger, database: DatabaseHealth) {
  const suggestions = fieldSuggestionsEnabled(config);
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const requestId = requestIdOf(error);
    const code = formatted.extensions?.code;
    if (code === ErrorCode.INTERNAL_SERVER_ERROR) {
      const original = (error as { originalError?: unknown }).originalError ?? error;
      // An outage, not a bug: the client retries (databaseUnavailableStatus sets the 503)
      if (database.failed(original)) {
        return {
          message: DATABASE_UNAVAILABLE_MESSAGE,
          ...(formatted.locations ? { locations: formatted.locations } : {}),
          ...(formatted.path ? { path: formatted.path } : {}),
          extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, requestId },
        };
      }
      logger.error(
        { err: original, path: formatted.path, reqId: requestId },
        "unexpected error in GraphQL operation",
      );
      if (!config.isDevelopment) {
        return {
          message: "Internal server error",
          ...(formatted.locations ? { locations: formatted.locations } : {}),
          ...(formatted.path ? { path: formatted.path } : {}),
          extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, requestId },
        };
      }
    }
    // Input values are already out of every message (the analyse stage wrote them anew, see
    // input-errors.ts); a syntax error names the token it stopped at, which may be a literal.
    const message =
      code === ErrorCode.GRAPHQL_PARSE_FAILED
        ? redactSyntaxError(formatted.message)
        : formatted.message;
    return {
      ...formatted,
      message: suggestions ? message : withoutSuggestions(message),
      extensions: {
        ...formatted.extensions,
        // Apollo's code for an operationName the document does not resolve: a request the
        // client got wrong, so one of BEHAVIOUR.md's codes (it stays a 400)
        ...(code === OPERATION_RESOLUTION_FAILURE && { code: ErrorCode.BAD_REQUEST }),
        requestId,
      },
    };
  };
}
