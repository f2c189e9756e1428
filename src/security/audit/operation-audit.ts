import type { GraphQLRequestContextWillSendResponse, HTTPGraphQLResponse } from "@apollo/server";
import type { GraphQLFormattedError } from "graphql";
import { uuidv7 } from "../../db/uuidv7.js";
import type { Database } from "../../db/client.js";
import type { Context } from "../../graphql/context.js";
import { ErrorCode } from "../../graphql/errors.js";
import type { AuditEventDraft } from "./event.js";
import { PII_FIELDS } from "../sensitive-data.js";
import { appendToChain } from "./chain.js";
import {
  describeOperation,
  type OperationDescription,
  type OperationRequest,
  storableText,
} from "./describe-operation.js";
import { type HeldTransaction, holdTransaction } from "./held-transaction.js";
import type { AuditLog } from "./audit-log.js";

type Outcome = AuditEventDraft["outcome"];

export interface RequestInfo {
  requestId: string;
  ip: string;
  userAgent: string | undefined;
}

const MAX_USER_AGENT_LENGTH = 512;
/** The cost columns are PostgreSQL integers; a refused operation's cost can be any size. */
const MAX_STORED_COST = 2_147_483_647;
const storableCost = (cost: number | null | undefined): number | null =>
  cost == null ? null : Math.min(cost, MAX_STORED_COST);

function errorCodesOf(errors: readonly GraphQLFormattedError[] | undefined): string[] {
  const codes = (errors ?? []).map((e) =>
    typeof e.extensions?.code === "string" ? e.extensions.code : ErrorCode.INTERNAL_SERVER_ERROR,
  );
  return [...new Set(codes)];
}

/**
 * REJECTED: refused before execution (parse, validation, limits, budget, bad token).
 * DENIED: executed, and a field or mutation was refused (or credentials were wrong).
 * ERROR: anything unexpected, or executed with other errors.
 */
export function outcomeOf(executed: boolean, codes: readonly string[]): Outcome {
  if (codes.includes(ErrorCode.INTERNAL_SERVER_ERROR)) return "ERROR";
  if (!executed) return codes.length > 0 ? "REJECTED" : "SUCCESS";
  if (codes.includes(ErrorCode.FORBIDDEN) || codes.includes(ErrorCode.UNAUTHENTICATED)) {
    return "DENIED";
  }
  return codes.length > 0 ? "ERROR" : "SUCCESS";
}

/** Rolls back a mutation that missed its deadline. */
class MutationAbandoned extends Error {
  override name = "MutationAbandoned";
}

/** What a resolver still running past its operation's deadline gets as its database. */
const ENDED_OPERATION_DATABASE = new Proxy(
  {},
  {
    get() {
      throw new MutationAbandoned("the operation ended at its deadline");
    },
  },
) as Database;

/** The code of an error a field resolver threw (or returned, as graphql-js allows). */
function codeOf(error: unknown): unknown {
  return (error as { extensions?: { code?: unknown } } | null)?.extensions?.code;
}

/**
 * The audit record of one GraphQL operation, from admission to stored event: exactly one event
 * is stored per operation, by the plugin (willSendResponse) or, when Apollo never ran the
 * operation's plugin hooks (a bad token fails in the context function), by the route.
 * A mutation's event is written in the mutation's own transaction.
 */
export class OperationAudit {
  readonly id = uuidv7();
  private readonly at = new Date();
  private readonly started = performance.now();
  private context: Context | undefined;
  private transaction: HeldTransaction | undefined;
  private executed = false;
  private recorded = false;
  private readonly sensitiveFields = new Set<string>();
  private readonly deniedFields = new Set<string>();

  constructor(
    private readonly log: AuditLog,
    private readonly request: RequestInfo,
    /** The operation as sent (POST body or GET parameters), for events recorded by the route. */
    private readonly sent: OperationRequest,
  ) {}

  /** Links the operation's context to this record (Apollo clones the context; both hold it). */
  attach(context: Context): Context {
    this.context = context;
    context.audit = this;
    return context;
  }

  /**
   * Execution begins. A mutation gets its transaction now: both the context Apollo passes to
   * resolvers and the original one (which the loaders read) switch to it.
   */
  async executionStarted(contextValue: Context, operationType: string | undefined): Promise<void> {
    this.executed = true;
    if (operationType !== "mutation") return;
    this.transaction = await holdTransaction(this.log.database);
    this.useDatabase(contextValue, this.transaction.db);
  }

  private useDatabase(contextValue: Context | undefined, db: Database): void {
    if (contextValue) contextValue.db = db;
    if (this.context) this.context.db = db;
  }

  fieldResolved(field: string, error: unknown, result: unknown): void {
    const failure = error ?? (result instanceof Error ? result : undefined);
    if (failure) {
      if (codeOf(failure) === ErrorCode.FORBIDDEN) this.deniedFields.add(field);
      return;
    }
    if (result !== null && result !== undefined && PII_FIELDS.has(field)) {
      this.sensitiveFields.add(field);
    }
  }

  /** The plugin's record, from Apollo's final response; a failed mutation audit fails the response. */
  async recordResponse(rc: GraphQLRequestContextWillSendResponse<Context>): Promise<void> {
    if (this.recorded) return;
    const body = rc.response.body;
    const result = body.kind === "single" ? body.singleResult : body.initialResult;
    const codes = errorCodesOf(result.errors);
    // A response without data was refused before any field ran (variables that do not coerce,
    // an operationName the document lacks), though Apollo had begun execution.
    const executed = this.executed && result.data !== undefined;
    const stored = await this.record(
      {
        query: rc.request.query ?? rc.source,
        operationName: rc.request.operationName,
        variables: rc.request.variables,
        document: rc.document ?? null,
        queryHash: rc.queryHash,
      },
      outcomeOf(executed, codes),
      codes,
      rc.contextValue,
    );
    if (!stored) {
      rc.response.body = {
        kind: "single",
        singleResult: {
          data: null,
          errors: [
            {
              message: "Internal server error",
              extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
            },
          ],
        },
      };
      rc.response.http.status = 500;
    }
  }

  /** The route's record for an operation the plugin did not record (e.g. a 401). */
  async recordHttpResponse(response: HTTPGraphQLResponse): Promise<void> {
    if (this.recorded) return;
    let errors: GraphQLFormattedError[] | undefined;
    if (response.body.kind === "complete") {
      try {
        errors = (JSON.parse(response.body.string) as { errors?: GraphQLFormattedError[] }).errors;
      } catch {
        errors = undefined;
      }
    }
    const codes = errorCodesOf(errors);
    if (codes.length === 0 && (response.status ?? 200) >= 400) {
      codes.push(ErrorCode.INTERNAL_SERVER_ERROR);
    }
    await this.record(this.sent, outcomeOf(this.executed, codes), codes, undefined);
  }

  /** A request refused by the route before any operation ran (e.g. too many in a batch). */
  async recordRefusal(code: string): Promise<void> {
    if (this.recorded) return;
    await this.record(this.sent, "REJECTED", [code], undefined);
  }

  /**
   * The operation as the event keeps it. Whatever the client sent, an event is stored (and a
   * mutation's transaction finished): if describing the variables fails, they are left out.
   */
  private describe(request: OperationRequest): OperationDescription {
    try {
      return describeOperation(request, this.log.maxTokens);
    } catch (error) {
      this.log.describeFailed(error);
      return describeOperation({ ...request, variables: undefined }, this.log.maxTokens);
    }
  }

  private draft(
    request: OperationRequest,
    outcome: Outcome,
    errorCodes: string[],
    contextValue: Context | undefined,
  ): AuditEventDraft {
    const context = contextValue ?? this.context;
    const principal = context?.principal;
    const authenticated = principal && principal.kind !== "anonymous" ? principal : undefined;
    const cost = context?.cost;
    return {
      id: this.id,
      at: this.at,
      orgId: authenticated?.orgId ?? null,
      actorType: !authenticated
        ? "ANONYMOUS"
        : authenticated.kind === "user"
          ? "USER"
          : "API_CLIENT",
      actorId: authenticated?.id ?? null,
      ip: storableText(this.request.ip),
      userAgent:
        this.request.userAgent === undefined
          ? null
          : storableText(this.request.userAgent, MAX_USER_AGENT_LENGTH),
      ...this.describe(request),
      outcome,
      errorCodes,
      sensitiveFields: [...this.sensitiveFields].sort(),
      deniedFields: [...this.deniedFields].sort(),
      requestedCost: storableCost(cost?.requested),
      actualCost: storableCost(cost?.actual),
      requestId: storableText(this.request.requestId),
      durationMs: Math.round(performance.now() - this.started),
    };
  }

  /**
   * Stores the event: in the mutation's transaction (committing it) or in the buffer. Returns
   * false when a mutation's transaction could not commit with its event: the mutation is rolled
   * back and its failure is recorded, under the same id, through the buffer.
   */
  private async record(
    request: OperationRequest,
    outcome: Outcome,
    errorCodes: string[],
    contextValue: Context | undefined,
  ): Promise<boolean> {
    this.recorded = true;
    const draft = this.draft(request, outcome, errorCodes, contextValue);
    const transaction = this.transaction;
    if (!transaction) {
      this.log.enqueue(draft);
      return true;
    }
    this.transaction = undefined;
    if (errorCodes.includes(ErrorCode.EXECUTION_TIMEOUT)) {
      // Resolvers may still run past the deadline: they must not write outside the transaction
      // (unaudited), nor may their work commit under an event that says the mutation failed.
      this.useDatabase(contextValue, ENDED_OPERATION_DATABASE);
      await transaction.finish(() => Promise.reject(new MutationAbandoned())).catch(() => {});
      this.log.enqueue(draft);
      return true;
    }
    this.useDatabase(contextValue, this.log.database);
    try {
      const rows = await transaction.finish((tx) =>
        appendToChain(tx, [draft], { firstAttempt: true }),
      );
      this.log.written(rows);
      this.log.releaseSlot();
      return true;
    } catch (error) {
      this.log.mutationAuditFailed(error, draft);
      this.log.enqueue({
        ...draft,
        outcome: "ERROR",
        errorCodes: [ErrorCode.INTERNAL_SERVER_ERROR],
      });
      return false;
    }
  }
}
