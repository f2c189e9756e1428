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
import type { CostBudgets, Payer } from "../../security/limits/budget.js";
import { minimumOperationCost } from "../../security/limits/cost-model.js";
import { budgetExhausted } from "../../security/limits/errors.js";
import {
  type FairShare,
  type Release,
  type ShareKeys,
  shareKeysOf,
} from "../../security/limits/fair-share.js";
import { verifyAuthorization } from "../../security/principal.js";
import { type AccessClaims, type AccessTokens, InvalidTokenError } from "../../security/tokens.js";
import { ErrorCode, invalidToken, rateLimited } from "../errors.js";
import { unacceptableAnswerRefusal } from "./accept.js";
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
  /** More of the error's extensions (a 429's retryAfterSeconds, as on every RATE_LIMITED). */
  extensions?: Record<string, unknown>;
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

const callerKeys = (caller: Caller, ip: string): ShareKeys =>
  shareKeysOf(
    caller.kind === "token"
      ? { kind: caller.claims.typ, id: caller.claims.sub, orgId: caller.claims.org }
      : { kind: "anonymous" },
    ip,
  );

const tooManyAtOnce = () =>
  rateLimited(1, "Too many operations at once for this caller or organization; retry later");

/** What the route found of the request's documents (README "Trusted documents"). */
export interface SentDocuments {
  /** An operation's document id was refused (unknown, or the feature is off). */
  refusal: Refusal | undefined;
  /** Some operation sends a document of its own rather than a trusted one's id. */
  arbitrary: boolean;
}

export interface AdmitOptions {
  batchLimit: number;
  /** TRUSTED_DOCUMENTS_MODE: with require, only API clients may send documents of their own. */
  trustedDocumentsMode: "off" | "allow" | "require";
  /** How long a 429 is held at most (RATE_LIMIT_HOLD_MS). */
  refusalHoldMs: number;
  tokens: AccessTokens;
  fairShare: FairShare;
  audit: AuditLog;
  budgets: CostBudgets;
}

/** The refusal of a request whose batch the settings do not allow, if it is one. */
function batchRefusal(operations: unknown[] | undefined, batchLimit: number): Refusal | undefined {
  if (operations === undefined) return undefined;
  if (batchLimit === 1) {
    return {
      status: 400,
      message: "Batched requests are off on this server (BATCH_LIMIT=1): send one operation",
      code: ErrorCode.BATCH_LIMIT_EXCEEDED,
    };
  }
  if (operations.length === 0) {
    return {
      status: 400,
      message: "A batched request must contain at least one operation",
      code: ErrorCode.BAD_REQUEST,
    };
  }
  if (operations.length <= batchLimit) return undefined;
  return {
    status: 400,
    message: `A batched request may contain at most ${batchLimit} operations (BATCH_LIMIT)`,
    code: ErrorCode.BATCH_LIMIT_EXCEEDED,
  };
}

/**
 * With TRUSTED_DOCUMENTS_MODE=require, users and anonymous callers run only the first-party
 * app's documents; API clients (partners) write their own. A bad token is left to its 401.
 */
function untrustedDocumentRefusal(
  mode: AdmitOptions["trustedDocumentsMode"],
  caller: Caller,
  documents: SentDocuments | undefined,
): Refusal | undefined {
  if (mode !== "require" || !documents?.arbitrary) return undefined;
  if (caller.kind === "invalid" || (caller.kind === "token" && caller.claims.typ === "client")) {
    return undefined;
  }
  return {
    status: 400,
    message: "This server runs only its trusted documents for this caller: send a documentId",
    code: ErrorCode.PERSISTED_QUERY_REQUIRED,
  };
}

export function admitStage(options: AdmitOptions) {
  const callers = new WeakMap<FastifyRequest, Caller>();
  const { budgets } = options;

  /** Waits until RATE_LIMIT_HOLD_MS after `started`, never past the Retry-After. */
  const hold = async (retryAfterSeconds: number, started: number) => {
    const holdMs =
      Math.min(options.refusalHoldMs, retryAfterSeconds * 1000) - (performance.now() - started);
    if (holdMs > 0) await new Promise((resolve) => setTimeout(resolve, holdMs));
  };

  const callerOf = (request: FastifyRequest): Caller => {
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
  };

  return {
    callerOf,

    /** The budget account that pays for the request's operations. */
    accountOf: (request: FastifyRequest) =>
      budgets.accountOf(payerOf(callerOf(request)), request.ip),

    /**
     * Admits a request, or refuses it as a whole before any of its operations is read (nothing
     * of it reaches Apollo): a batch the settings do not allow, an Accept header that allows no
     * answer (406), a refused document id or a
     * document of its own where trusted documents are required (charged the minimum, as any
     * refused operation is), a caller whose budget is known to be empty (429, charged nothing:
     * an invalid token or an anonymous caller pays as its address), an audit log that cannot
     * take its operations (503). Each refusal is recorded; a 429 is held (holdRefusal).
     */
    async admitRequest(
      request: FastifyRequest,
      operations: unknown[] | undefined,
      documents?: SentDocuments,
    ): Promise<Refusal | undefined> {
      const started = performance.now();
      const caller = callerOf(request);
      const account = budgets.accountOf(payerOf(caller), request.ip);
      const emptyFor = budgets.emptyForSeconds(account);
      const refusal: Refusal | undefined =
        batchRefusal(operations, options.batchLimit) ??
        unacceptableAnswerRefusal(request) ??
        documents?.refusal ??
        untrustedDocumentRefusal(options.trustedDocumentsMode, caller, documents) ??
        (emptyFor === undefined
          ? undefined
          : {
              status: 429,
              message: budgetExhausted(emptyFor).message,
              code: ErrorCode.RATE_LIMITED,
              headers: { "retry-after": String(emptyFor) },
              extensions: { retryAfterSeconds: emptyFor },
            });
      if (!options.audit.admit(refusal ? 1 : (operations?.length ?? 1))) {
        return {
          status: 503,
          message: "The server cannot take operations right now",
          code: ErrorCode.SERVICE_UNAVAILABLE,
          headers: { "retry-after": "1" },
        };
      }
      if (!refusal) return undefined;
      const record = options.audit.begin(request, operations ? undefined : request.body);
      if (caller.kind === "token") record.claim(actorOf(caller.claims));
      record.recordRefusal(refusal.code);
      if (emptyFor !== undefined && refusal.status === 429) await hold(emptyFor, started);
      else await budgets.apply(account, minimumOperationCost(undefined), "take");
      return refusal;
    },

    /** Holds a 429 answer (see docs/configuration.md "Isolation": a flood then waits on each connection). */
    holdRefusal: (response: HTTPGraphQLResponse, started: number) =>
      hold(Number(response.headers.get("retry-after") ?? 0), started),

    /**
     * Admits one operation: a bad token is a 401; a caller who cannot get a fair-share slot in
     * time is a 429 (charged nothing). Resolves to the slot's release, to call once the
     * operation has finished.
     */
    async admitOperation(caller: Caller, ip: string, charge: OperationCharge): Promise<Release> {
      if (caller.kind === "invalid") throw invalidToken();
      const release = await options.fairShare.acquire(callerKeys(caller, ip));
      if (!release) {
        charge.refuse();
        throw tooManyAtOnce();
      }
      return release;
    },
  };
}
