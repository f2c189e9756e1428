import type { Role } from "../../db/schema.js";
import type { Principal, ScopeName } from "../principal.js";

/**
 * Who may use a field, as ACCESS.md writes it: users of some roles, API clients holding one of
 * some scopes, and "self" (a user on their own User row). Anything not granted is denied.
 */
export interface Grant {
  /** Users with any of these roles. */
  readonly roles?: readonly Role[];
  /** API clients holding any one of these scopes, or "any" for every API client of the tenant. */
  readonly scopes?: readonly ScopeName[] | "any";
  /** Any user on their own User row (and on the user an auth mutation just returned to its caller). */
  readonly self?: boolean;
}

/** One entry of the policy table. */
export type FieldPolicy =
  /** Anyone, anonymous callers included: the public mutations and what they return. */
  | { readonly kind: "public" }
  /**
   * Connection, edge and page plumbing: readable by whoever was allowed the field that returned
   * it (the rows inside are checked field by field again).
   */
  | { readonly kind: "structural" }
  | {
      readonly kind: "grant";
      readonly grant: Grant;
      /**
       * Arguments that need a grant of their own, by dotted path ("filter.email"): matching on a
       * protected value reveals it as surely as reading it, so a filter on a field needs that
       * field's grant. An argument left out or null needs nothing more.
       */
      readonly arguments?: Readonly<Record<string, Grant>>;
    }
  /** Query.node: the grant of the typed entry field of the object's type, decided from the id. */
  | { readonly kind: "node" };

export const ALL_ROLES: readonly Role[] = ["ADMIN", "AGENT", "VIEWER", "AUDITOR"];

/** Whether the principal's role or scopes satisfy the grant (without "self"). */
export function grantsByPrincipal(grant: Grant, principal: Principal): boolean {
  switch (principal.kind) {
    case "user":
      return grant.roles?.includes(principal.role) ?? false;
    case "client":
      if (grant.scopes === "any") return true;
      return grant.scopes?.some((scope) => principal.scopes.has(scope)) ?? false;
    case "anonymous":
      return false;
  }
}

/** "ADMIN, AGENT, or scope customers:pii": the reader-facing form used in descriptions. */
export function describeGrant(grant: Grant): string {
  const parts: string[] = [...(grant.roles ?? [])];
  if (grant.scopes === "any") parts.push("any API client");
  else if (grant.scopes?.length) parts.push(...grant.scopes.map((s) => `scope ${s}`));
  if (grant.self) parts.push("the user themself");
  if (parts.length === 0) return "nobody";
  if (parts.length === 1) return parts[0]!;
  return `${parts.slice(0, -1).join(", ")}, or ${parts.at(-1)!}`;
}
