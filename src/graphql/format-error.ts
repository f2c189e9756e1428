import type { GraphQLFormattedError } from "graphql";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { currentRequestId } from "../http/request-scope.js";
import { ErrorCode } from "./errors.js";
import { redactInputValues } from "./input-value-redaction.js";
import { fieldSuggestionsEnabled, withoutSuggestions } from "./suggestions.js";

/**
 * Every error carries the request id (clients quote it, operators find the log line by it).
 * Unexpected errors keep their detail in the server log only: the client gets a generic
 * message and code (never SQL, a stack trace or a value), except in development. Input errors
 * name the variable, path and rule, never the rejected value (it may be personal data).
 */
export function formatError(config: Config, logger: Logger) {
  const suggestions = fieldSuggestionsEnabled(config);
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const requestId = currentRequestId();
    const code = formatted.extensions?.code;
    if (code === ErrorCode.INTERNAL_SERVER_ERROR) {
      const original = (error as { originalError?: unknown }).originalError ?? error;
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
    const inputError =
      code === ErrorCode.BAD_USER_INPUT || code === ErrorCode.GRAPHQL_VALIDATION_FAILED;
    const message = inputError ? redactInputValues(formatted.message) : formatted.message;
    return {
      ...formatted,
      message: suggestions ? message : withoutSuggestions(message),
      extensions: { ...formatted.extensions, requestId },
    };
  };
}
