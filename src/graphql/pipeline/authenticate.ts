/*
 * Stage 2, authenticate: who exactly is calling, as the database has it now. The admit stage has
 * checked the token's signature; here its user or API client is loaded (one indexed lookup per
 * HTTP request, shared by the operations of a batch), so a revoked session or client, a deleted
 * user or a changed role takes effect on the next request. Introspection needs a principal when
 * INTROSPECTION=authenticated.
 */
import type { FastifyRequest } from "fastify";
import type { Config } from "../../config.js";
import type { Database } from "../../db/client.js";
import { introspectionPolicy } from "../../security/authz/introspection.js";
import { ANONYMOUS, loadPrincipal, type Principal } from "../../security/principal.js";
import type { PrincipalCache } from "../../security/principal-cache.js";
import { InvalidTokenError } from "../../security/tokens.js";
import { invalidToken } from "../errors.js";
import type { Caller } from "./admit.js";

export function authenticateStage(options: {
  config: Config;
  db: Database;
  principals: PrincipalCache;
}) {
  const principals = new WeakMap<FastifyRequest, Promise<Principal>>();

  return {
    listener: introspectionPolicy(options.config.introspection),

    /** The request's principal (a token whose user or client is gone is a 401). */
    async principalOf(request: FastifyRequest, caller: Caller): Promise<Principal> {
      if (caller.kind !== "token") return ANONYMOUS;
      let principal = principals.get(request);
      if (!principal) {
        principal = loadPrincipal(caller.claims, options.db, options.principals);
        principals.set(request, principal);
      }
      try {
        return await principal;
      } catch (error) {
        if (error instanceof InvalidTokenError) throw invalidToken();
        throw error;
      }
    },
  };
}
