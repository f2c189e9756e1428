import type { Context } from "../../graphql/types.js";
import { rateLimited } from "../../graphql/errors.js";
import { TooManyAttemptsError } from "../../security/auth-limits.js";
import type { HashTurn } from "../../security/passwords.js";

/** Whose turn a password hash takes (PasswordHasher), up to the operation's deadline. */
export const hashTurn = (ctx: Context, key: string): HashTurn => ({
  key,
  until: ctx.operation.deadline,
});

/**
 * Refuses with RATE_LIMITED, counting nothing, a caller whose address has used all its
 * authentication attempts (for work that counts an attempt only when it fails, like an
 * "already registered" answer).
 */
export async function refuseIfAttemptsExhausted(ctx: Context): Promise<void> {
  const retryAfter = await ctx.services.authLimits.exhausted(ctx.ip);
  if (retryAfter !== undefined) throw rateLimited(retryAfter);
}

/**
 * Counts one authentication attempt (logIn, signUp, issueClientToken, refreshSession) against the
 * caller's address, before any work is done; refused with RATE_LIMITED past the limit.
 */
export async function countAuthAttempt(ctx: Context): Promise<void> {
  try {
    await ctx.services.authLimits.countAttempt(ctx.ip);
  } catch (error) {
    if (error instanceof TooManyAttemptsError) throw rateLimited(error.retryAfterSeconds);
    throw error;
  }
}
