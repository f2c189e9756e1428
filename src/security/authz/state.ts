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
  /** Decisions of rules that depend only on the principal, made once per operation. */
  readonly decisions: Map<string, boolean>;
}

export const newAuthzState = (): AuthzState => ({ ownUserIds: new Set(), decisions: new Map() });
