import type { AuthenticatedPrincipal } from "../security/principal.js";
import { signInRequired } from "./errors.js";
import type { Context } from "./types.js";

/**
 * The caller's organization. Every data access goes through this, so tenancy does not depend on
 * the authorization layer having run: an anonymous caller reaches no tenant data at all.
 */
export function tenantOf(ctx: Context): AuthenticatedPrincipal {
  if (ctx.principal.kind === "anonymous") {
    throw signInRequired();
  }
  return ctx.principal;
}
