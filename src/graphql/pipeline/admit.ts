/*
 * Stage 1, admit: may this request use the server now? Decided before any database work, from
 * what the request itself shows: how many operations it holds, whether the audit log can take
 * them, who its token says is calling (the signature is checked; the principal is loaded in the
 * next stage), whether that caller already runs its fair share of operations, and whether its
 * budget is known to be empty.
 */
import type { HTTPGraphQLResponse } from "@apollo/server";
import type { FastifyRequest } from "fastify";
import type { AuditLog } from "../../security/audit/audit-log.js";
import type { ClaimedActor } from "../../security/audit/operation-audit.js";
import { clientAddressKey } from "../../security/auth-limits.js";
import type { BudgetAccount, Payer } from "../../security/limits/budget.js";
import { budgetExhausted } from "../../security/limits/errors.js";
import type { FairShare, Release, ShareKeys } from "../../security/limits/fair-share.js";
import { verifyAuthorization } from "../../security/principal.js";
import { type AccessClaims, type AccessTokens, InvalidTokenError } from "../../security/tokens.js";
import { ErrorCode, invalidToken, rateLimited } from "../errors.js";
import type { OperationCharge } from "./run.js";

/** Who is calling, as the request says it (a token's signature and claims, checked). */
export type Caller =
  { kind: "anonymous" } | { kind: "token"; claims: AccessClaims } | { kind: "invalid" };

/** A request refused as a whole, before any of its operations is read. */
export interface Refusal {
  status: number;
  message: string;
  code: ErrorCode;
  headers?: Record<string, string>;
}

/** An invalid token pays, and takes its turn, as the anonymous caller of its address. */
export const payerOf = (caller: Caller): Payer =>
  caller.kind === "token"
    ? { kind: caller.claims.typ, id: caller.claims.sub }
    : { kind: "anonymous" };

export const actorOf = (claims: AccessClaims): ClaimedActor => ({
  kind: claims.typ,
  id: claims.sub,
  orgId: claims.org,
});

function shareKeysOf(caller: Caller, ip: string): ShareKeys {
  if (caller.kind !== "token")
    return { principal: `ip:${clientAddressKey(ip)}`, organization: undefined };
  const { typ, sub, org } = caller.claims;
  return { principal: `${typ}:${sub}`, organization: org };
}

const tooManyAtOnce = () =>
  rateLimited(1, "Too many operations at once for this caller or organization; retry later");

export interface AdmitOptions {
  batchLimit: number;
  /** How long a 429 is held at most (RATE_LIMIT_HOLD_MS). */
  refusalHoldMs: number;
  tokens: AccessTokens;
  fairShare: FairShare;
  audit: AuditLog;
  budgets: { emptyForSeconds(account: BudgetAccount): number | undefined };
}

export function admitStage(options: AdmitOptions) {
  const callers = new WeakMap<FastifyRequest, Caller>();

  return {
    /**
     * Refuses a request as a whole (an empty or oversized batch, an audit log that cannot take
     * its operations), or reserves an audit slot for each of its operations.
     */
    admitRequest(request: FastifyRequest, operations: unknown[] | undefined): Refusal | undefined {
      const { batchLimit } = options;
      const tooMany = operations !== undefined && operations.length > batchLimit;
      const refusal: Refusal | undefined =
        batchLimit === 1 && operations !== undefined
          ? {
              status: 400,
              message:
                "Batched requests are off on this server (BATCH_LIMIT=1): send one operation",
              code: ErrorCode.BATCH_LIMIT_EXCEEDED,
            }
          : operations?.length === 0
            ? {
                status: 400,
                message: "A batched request must contain at least one operation",
                code: ErrorCode.BAD_REQUEST,
              }
            : tooMany
              ? {
                  status: 400,
                  message: `A batched request may contain at most ${batchLimit} operations (BATCH_LIMIT)`,
                  code: ErrorCode.BATCH_LIMIT_EXCEEDED,
                }
              : undefined;
      if (!options.audit.admit(operations && !refusal ? operations.length : 1)) {
        return {
          status: 503,
          message: "The server cannot take operations right now",
          code: ErrorCode.SERVICE_UNAVAILABLE,
          headers: { "retry-after": "1" },
        };
      }
      if (refusal) options.audit.begin(request, undefined).recordRefusal(refusal.code);
      return refusal;
    },

    /** The request's caller, from its Authorization header (verified once per request). */
    callerOf(request: FastifyRequest): Caller {
      let caller = callers.get(request);
      if (!caller) {
        try {
          const claims = verifyAuthorization(request.headers.authorization, options.tokens);
          caller = claims ? { kind: "token", claims } : { kind: "anonymous" };
        } catch (error) {
          if (!(error instanceof InvalidTokenError)) throw error;
          caller = { kind: "invalid" };
        }
        callers.set(request, caller);
      }
      return caller;
    },

    /**
     * Holds a refusal (429) until RATE_LIMIT_HOLD_MS after the operation arrived, never past its
     * Retry-After. A client flooding over its budget then waits on each connection instead of
     * sending again at once: its refusals cost the server a timer, not a core, and a flood of
     * them cannot crowd the other tenants out of the event loop.
     */
    async holdRefusal(response: HTTPGraphQLResponse, elapsedMs: number): Promise<void> {
      const retryAfterMs = Number(response.headers.get("retry-after") ?? 0) * 1000;
      const holdMs = Math.min(options.refusalHoldMs, retryAfterMs) - elapsedMs;
      if (holdMs > 0) await new Promise((resolve) => setTimeout(resolve, holdMs));
    },

    /**
     * Admits one operation: a bad token is a 401; a caller whose budget is known to be empty, or
     * who cannot get a fair-share slot in time, is a 429 (charged nothing). Resolves to the
     * slot's release, to call once the operation has finished.
     */
    async admitOperation(caller: Caller, ip: string, charge: OperationCharge): Promise<Release> {
      if (caller.kind === "invalid") throw invalidToken();
      const emptyFor = options.budgets.emptyForSeconds(charge.account);
      if (emptyFor !== undefined) {
        charge.refuse();
        throw budgetExhausted(emptyFor);
      }
      const release = await options.fairShare.acquire(shareKeysOf(caller, ip));
      if (!release) {
        charge.refuse();
        throw tooManyAtOnce();
      }
      return release;
    },
  };
}
