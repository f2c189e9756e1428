import type { Database } from "../db/client.js";
import { createLoaders } from "../modules/loaders.js";
import { type AuthzState, newAuthzState } from "../security/authz/state.js";
import type { ShareKeys } from "../security/limits/fair-share.js";
import type { Principal } from "../security/principal.js";
import type { Context, Loaders, OperationState, Services } from "./types.js";

export interface RequestIdentity {
  principal: Principal;
  requestId: string;
  ip: string;
  userAgent: string | undefined;
  /** Whose share of the pool the operation's statements take; absent, they take none. */
  shareKeys?: ShareKeys;
}

/**
 * The context of one operation. `db` and `write()` live on the prototype and read the shared
 * operation state, so they stay right on the shallow copy Apollo hands to resolvers.
 */
class OperationContext implements Context {
  readonly principal: Principal;
  readonly requestId: string;
  readonly ip: string;
  readonly userAgent: string | undefined;
  readonly authz: AuthzState = newAuthzState();
  readonly operation: OperationState;
  readonly loaders: Loaders;

  constructor(
    readonly services: Services,
    request: RequestIdentity,
  ) {
    this.principal = request.principal;
    this.requestId = request.requestId;
    this.ip = request.ip;
    this.userAgent = request.userAgent;
    const { shareKeys } = request;
    this.operation = {
      db: shareKeys
        ? services.database.throttled(() => services.poolShare.acquire(shareKeys))
        : services.database.db,
      transaction: undefined,
      audit: undefined,
      cost: undefined,
      deadline: undefined,
    };
    this.loaders = createLoaders(this);
  }

  get db(): Database {
    return this.operation.db;
  }

  write(): Promise<Database> {
    const transaction = this.operation.transaction;
    if (!transaction) return Promise.reject(new Error("only a mutation can write"));
    return transaction.write();
  }
}

export function createContext(services: Services, request: RequestIdentity): Context {
  return new OperationContext(services, request);
}
