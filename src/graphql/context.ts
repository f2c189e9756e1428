import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Database, DatabaseHandle } from "../db/client.js";
import { createLoaders, type Loaders } from "../modules/loaders.js";
import type { AuthLimits } from "../security/auth-limits.js";
import type { PasswordHasher } from "../security/passwords.js";
import type { BlindIndex, FieldCipher } from "../security/pii.js";
import type { OperationAudit } from "../security/audit/operation-audit.js";
import { type AuthzState, newAuthzState } from "../security/authz/state.js";
import type { AuthenticatedPrincipal, Principal } from "../security/principal.js";
import type { AccessTokens } from "../security/tokens.js";
import { forbidden } from "./errors.js";

/** Long-lived parts of the server, built once by buildApp. */
export interface Services {
  config: Config;
  database: DatabaseHandle;
  cipher: FieldCipher;
  blindIndex: BlindIndex;
  passwords: PasswordHasher;
  tokens: AccessTokens;
  /** Brute-force limits on logIn, signUp, issueClientToken and refreshSession. */
  authLimits: AuthLimits;
  logger: Logger;
  /** Present when REDIS_URL is set: budgets and limits shared by every instance. */
  redis: Redis | undefined;
}

/** One per GraphQL operation (each operation of a batched request has its own). */
export interface Context {
  services: Services;
  /** The executor for this request; an audited mutation swaps in its transaction. */
  db: Database;
  principal: Principal;
  requestId: string;
  ip: string;
  userAgent: string | undefined;
  loaders: Loaders;
  /** The operation's audit record (set by the GraphQL route; read by the audit plugin). */
  audit?: OperationAudit;
  /** The operation's cost, filled by the limits layer; the audit log records it. */
  cost?: OperationCost;
  /** Per-operation authorization state (decisions made once, users returned to their owner). */
  authz: AuthzState;
}

/** Cost points of one operation (BEHAVIOUR.md "Cost model"); null until known. */
export interface OperationCost {
  requested: number | null;
  actual: number | null;
}

export function createContext(
  services: Services,
  request: { principal: Principal; requestId: string; ip: string; userAgent: string | undefined },
): Context {
  const context: Context = {
    services,
    db: services.database.db,
    ...request,
    authz: newAuthzState(),
    loaders: undefined as unknown as Loaders,
  };
  context.loaders = createLoaders(context);
  return context;
}

/**
 * The caller's organization. Every data access goes through this, so tenancy does not depend on
 * the authorization layer having run: an anonymous caller reaches no tenant data at all.
 */
export function tenantOf(ctx: Context): AuthenticatedPrincipal {
  if (ctx.principal.kind === "anonymous") {
    throw forbidden();
  }
  return ctx.principal;
}
