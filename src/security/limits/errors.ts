import { HeaderMap } from "@apollo/server";
import type { GraphQLError } from "graphql";
import { clientError, ErrorCode, rateLimited } from "../../graphql/errors.js";

/** A static limit refused the operation before it ran: HTTP 400 with the limit's own code. */
export const limitExceeded = (code: ErrorCode, message: string): GraphQLError =>
  clientError(message, { code, http: { status: 400, headers: new HeaderMap() } });

/** The caller's cost budget cannot pay for the operation: the common RATE_LIMITED refusal. */
export const budgetExhausted = (retryAfterSeconds: number): GraphQLError =>
  rateLimited(retryAfterSeconds, `Cost budget exhausted; retry after ${retryAfterSeconds} s`);

export const executionTimeout = (timeoutMs: number): GraphQLError =>
  clientError(`Execution exceeded the time limit of ${timeoutMs} ms and was stopped`, {
    code: ErrorCode.EXECUTION_TIMEOUT,
  });
