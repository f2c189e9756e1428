import type { GraphQLRequestContextWillSendResponse, HTTPGraphQLResponse } from "@apollo/server";
import type { GraphQLFormattedError } from "graphql";
import type { AuditEventRow } from "../../db/schema.js";
import { uuidv7 } from "../../db/uuidv7.js";
import { isDatabaseUnavailable } from "../../db/availability.js";
import {
  DATABASE_RETRY_AFTER_SECONDS,
  DATABASE_UNAVAILABLE_MESSAGE,
  ErrorCode,
} from "../../graphql/errors.js";
import type { Context, FieldOutcomeRecorder } from "../../graphql/types.js";
import { isDenial } from "../authz/denials.js";
import { PII_FIELDS } from "../sensitive-data.js";
import { appendEvent } from "./chain.js";
import {
  type DescribeOptions,
  type OperationDescription,
  type OperationRequest,
  storableText,
} from "./describe-operation.js";
import { type AuditEventDraft, chainOf } from "./event.js";

type Outcome = AuditEventDraft["outcome"];

export interface RequestInfo {
  requestId: string;
  ip: string;
  userAgent: string | undefined;
}

/** Who the caller's verified token names, before (or without) the principal being loaded. */
export interface ClaimedActor {
  kind: "user" | "client";
  id: string;
  orgId: string;
}

/** Where an operation's record goes (the AuditLog). */
export interface AuditSink {
  /** What the event keeps of the request (without its variables when those cannot be described). */
  describe(request: OperationRequest, options: DescribeOptions): OperationDescription;
  /** Queues a query's event: resolves true once it is stored, false if it could not be in time. */
  enqueue(draft: AuditEventDraft): Promise<boolean>;
  /** A mutation's event, committed with the mutation (its slot is given back). */
  mutationCommitted(row: AuditEventRow): void;
  describeFailed(error: unknown): void;
  mutationAuditFailed(error: unknown, draft: AuditEventDraft): void;
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

/** The code of an error a field resolver threw (or returned, as graphql-js allows). */
function codeOf(error: unknown): unknown {
  return (error as { extensions?: { code?: unknown } } | null)?.extensions?.code;
}

/**
 * The audit record of one GraphQL operation, from admission to stored event: exactly one event
 * is stored per operation, by the pipeline's record stage from Apollo's response or, when Apollo
 * never ran the operation's hooks (a refusal in the context function), from the HTTP response.
 * A mutation's event is added to the mutation's own transaction, which commits with it.
 */
export class OperationAudit implements FieldOutcomeRecorder {
  readonly id = uuidv7();
  private readonly at = new Date();
  private readonly started = performance.now();
  private context: Context | undefined;
  private claimed: ClaimedActor | undefined;
  private signIn: (ClaimedActor & { authenticated: boolean }) | undefined;
  private signedUp: ClaimedActor | undefined;
  private stored = false;
  private durable: Promise<boolean> = Promise.resolve(true);
  private readonly sensitiveFields = new Set<string>();
  private readonly deniedFields = new Set<string>();

  constructor(
    private readonly log: AuditSink,
    private readonly request: RequestInfo,
    /** The operation as sent (POST body or GET parameters), for events recorded by the route. */
    private readonly sent: OperationRequest,
  ) {}

  /**
   * Resolves once the operation's event is stored (true; a mutation's, when it committed), or to
   * false when it could not be stored in time: the response must not go out as if audited.
   */
  eventStored(): Promise<boolean> {
    return this.durable;
  }

  /** Whether the operation's event has been made (it is stored, or on its way to the buffer). */
  get recorded(): boolean {
    return this.stored;
  }

  /**
   * The actor a verified token names: the event's actor when the operation is refused before its
   * principal is loaded (fair share, an empty budget, a revoked session).
   */
  claim(actor: ClaimedActor): void {
    this.claimed = actor;
  }

  signInAttempted(
    account: { kind: "user" | "client"; orgId: string; id: string },
    authenticated: boolean,
  ): void {
    this.signIn = { ...account, authenticated };
  }

  /**
   * A signUp that created this organization and its first user: the event is the new
   * organization's, that user its actor, provided the mutation commits (else the organization
   * never existed, and the event stays in the chain of events without one).
   */
  organizationCreated(account: ClaimedActor): void {
    this.signedUp = account;
  }

  /** Links the operation's context to this record; its field wrappers report here. */
  attach(context: Context): Context {
    this.context = context;
    context.operation.audit = this;
    return context;
  }

  fieldResolved(field: string, error: unknown, result: unknown): void {
    const failure = error ?? (result instanceof Error ? result : undefined);
    if (failure) {
      const [type = "", name = ""] = field.split(".");
      if (isDenial(codeOf(failure), type, name)) this.deniedFields.add(field);
      return;
    }
    if (result !== null && result !== undefined && PII_FIELDS.has(field)) {
      this.sensitiveFields.add(field);
    }
  }

  /**
   * The record from Apollo's final response. A mutation's event commits with the mutation; if it
   * cannot, the mutation is rolled back and the response becomes a 500.
   */
  async recordResponse(
    rc: GraphQLRequestContextWillSendResponse<Context>,
    executed: boolean,
  ): Promise<void> {
    if (this.stored) return;
    const body = rc.response.body;
    const result = body.kind === "single" ? body.singleResult : body.initialResult;
    const codes = errorCodesOf(result.errors);
    const request: OperationRequest = {
      query: rc.request.query ?? rc.source,
      operationName: rc.request.operationName,
      variables: rc.request.variables,
      document: rc.document ?? null,
      queryHash: rc.queryHash,
    };
    const transaction = rc.contextValue.operation.transaction;
    if (transaction?.abandoned) this.signedUp = undefined; // nothing it created exists
    const draft = this.draft(
      request,
      // A response without data was refused before any field ran (variables that do not coerce,
      // an operationName the document lacks), though Apollo had begun execution.
      outcomeOf(executed && result.data !== undefined, codes),
      codes,
      rc.contextValue,
    );
    // A query's event, or a mutation rolled back at its deadline: through the buffer.
    if (!transaction || transaction.abandoned) {
      this.durable = this.log.enqueue(draft);
      return;
    }
    try {
      const { row, changedPrincipals } = await transaction.commit((tx) => appendEvent(tx, draft));
      rc.contextValue.services.principals.forgetCommitted(changedPrincipals);
      this.log.mutationCommitted(row);
    } catch (error) {
      // Rolled back: the failure is recorded under the same id, through the buffer. A database
      // that cannot be reached is an outage the client retries after (503), anything else a 500.
      this.log.mutationAuditFailed(error, draft);
      const outage = isDatabaseUnavailable(error);
      const code = outage ? ErrorCode.SERVICE_UNAVAILABLE : ErrorCode.INTERNAL_SERVER_ERROR;
      let failed: AuditEventDraft = { ...draft, outcome: "ERROR", errorCodes: [code] };
      if (this.signedUp) {
        this.signedUp = undefined; // rolled back: the organization it created does not exist
        failed = this.draft(request, "ERROR", [code], rc.contextValue);
      }
      this.durable = this.log.enqueue(failed);
      rc.response.body = {
        kind: "single",
        singleResult: {
          data: null,
          errors: [
            {
              message: outage ? DATABASE_UNAVAILABLE_MESSAGE : "Internal server error",
              extensions: { code },
            },
          ],
        },
      };
      rc.response.http.status = outage ? 503 : 500;
      if (outage) {
        rc.response.http.headers.set("retry-after", String(DATABASE_RETRY_AFTER_SECONDS));
      }
    }
  }

  /** The record of an operation Apollo refused before its hooks ran (e.g. a 401, a 429). */
  recordHttpResponse(response: HTTPGraphQLResponse): void {
    if (this.stored) return;
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
    this.durable = this.log.enqueue(
      this.draft(this.sent, outcomeOf(false, codes), codes, undefined),
    );
  }

  /** A request refused before any operation ran (e.g. too many in a batch). */
  recordRefusal(code: string): void {
    if (this.stored) return;
    this.durable = this.log.enqueue(this.draft(this.sent, "REJECTED", [code], undefined));
  }

  /**
   * The operation as the event keeps it. Whatever the client sent, an event is stored (and a
   * mutation's transaction finished): if describing the variables fails, they are left out.
   */
  private describe(request: OperationRequest, orgId: string | null): OperationDescription {
    try {
      return this.log.describe(request, { orgId });
    } catch (error) {
      this.log.describeFailed(error);
      return this.log.describe(request, { orgId, withVariables: false });
    }
  }

  /** The event; marks the operation recorded (one event per operation, whatever happens next). */
  private draft(
    request: OperationRequest,
    outcome: Outcome,
    errorCodes: string[],
    contextValue: Context | undefined,
  ): AuditEventDraft {
    this.stored = true;
    const context = contextValue ?? this.context;
    const principal = context?.principal;
    // A sign-in naming an existing account is the account's organization's event, whatever
    // token came with it (logIn ignores it): the account as actor once authenticated, else
    // anonymous.
    const actor = this.signIn
      ? this.signedIn()
      : principal && principal.kind !== "anonymous"
        ? { kind: principal.kind, id: principal.id, orgId: principal.orgId }
        : (this.signedUp ?? (principal ? undefined : this.claimed));
    const cost = context?.operation.cost;
    const orgId = this.signIn?.orgId ?? actor?.orgId ?? null;
    return {
      id: this.id,
      chainId: chainOf(orgId),
      at: this.at,
      orgId,
      actorType: !actor ? "ANONYMOUS" : actor.kind === "user" ? "USER" : "API_CLIENT",
      actorId: actor?.id ?? null,
      ip: storableText(this.request.ip),
      userAgent:
        this.request.userAgent === undefined
          ? null
          : storableText(this.request.userAgent, MAX_USER_AGENT_LENGTH),
      ...this.describe(request, orgId),
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

  /** The account an anonymous caller just signed in to, as the actor. */
  private signedIn(): ClaimedActor | undefined {
    if (!this.signIn?.authenticated) return undefined;
    const { kind, id, orgId } = this.signIn;
    return { kind, id, orgId };
  }
}
