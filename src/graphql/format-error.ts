import type { GraphQLFormattedError } from "graphql";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { ErrorCode } from "./errors.js";
import { redactInputValues } from "./input-value-redaction.js";

/**
 * Unexpected errors keep their detail in the server log only: the client gets a generic
 * message and code (never SQL, a stack trace or a value), except in development.
 */
export function formatError(config: Config, logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    if (code === ErrorCode.BAD_USER_INPUT || code === ErrorCode.GRAPHQL_VALIDATION_FAILED) {
      return { ...formatted, message: redactInputValues(formatted.message) };
    }
    if (code !== ErrorCode.INTERNAL_SERVER_ERROR) return formatted;
    const original = (error as { originalError?: unknown }).originalError ?? error;
    logger.error({ err: original, path: formatted.path }, "unexpected error in GraphQL operation");
    if (config.isDevelopment) return formatted;
    return {
      message: "Internal server error",
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
    };
  };
}
