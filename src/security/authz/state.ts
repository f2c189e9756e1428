import type { Grant } from "./access.js";

/**
 * Per-operation authorization state, kept on the context (one context per GraphQL operation,
 * so nothing here outlives or leaks across operations).
 */
export interface AuthzState {
  /**
   * User rows this operation handed to their own person: the user signUp, logIn or
   * refreshSession just authenticated, read as "self" by the (anonymous) caller.
   */
  readonly ownUserIds: Set<string>;
  /** Role/scope decisions (they depend only on the principal), made once per grant and operation. */
  readonly decisions: Map<Grant, boolean>;
}

export const newAuthzState = (): AuthzState => ({ ownUserIds: new Set(), decisions: new Map() });
