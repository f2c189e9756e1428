import type { FastifyRequest } from "fastify";
import { type Context, createContext, type Services } from "../graphql/context.js";
import { invalidToken } from "../graphql/errors.js";
import { type Principal, resolvePrincipal } from "../security/principal.js";
import { InvalidTokenError } from "../security/tokens.js";

/**
 * The contexts of one HTTP request's operations: the principal is resolved once per request (one
 * indexed lookup), and each operation gets a context of its own. A bad token refuses them all
 * with 401 (never anonymous).
 */
export function operationContexts(services: Services) {
  return (request: FastifyRequest): (() => Promise<Context>) => {
    let principal: Promise<Principal> | undefined;
    return async () => {
      principal ??= resolvePrincipal(
        request.headers.authorization,
        services.tokens,
        services.database.db,
      );
      try {
        return createContext(services, {
          principal: await principal,
          requestId: request.id,
          ip: request.ip,
          userAgent: request.headers["user-agent"],
        });
      } catch (error) {
        if (error instanceof InvalidTokenError) throw invalidToken();
        throw error;
      }
    };
  };
}
