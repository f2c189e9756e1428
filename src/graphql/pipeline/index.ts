/*
 * The operation pipeline: every GraphQL operation passes these stages, in this order.
 *
 *   1. admit         batch size, audit capacity, the token's signature, fair share, empty budget
 *   2. authenticate  the principal as the database has it now; introspection policy
 *      schema view   introspection answered from the principal's view of the schema
 *   3. analyse       token, alias, directive and introspection limits, credential fields first,
 *                    depth, cost; the requested cost taken from the caller's budget
 *   4. execute       deadline and actual cost; a mutation's transaction, opened by its first write
 *   5. record        the audit event (committing a mutation's transaction), the charge settled,
 *                    the cost reported, request ids on errors, metrics
 *
 * Stages 1 and 2 run when the route asks for an operation's context; 3 to 5 as Apollo hooks,
 * composed into one plugin so that each phase runs its stages in this order (stage.ts), and as
 * resolver wrappers, each stage wrapping the ones before it (authorization, applied when the
 * schema is built, is innermost; the audit's wrapper outermost).
 */
import { type ApolloServerPlugin, HeaderMap, type HTTPGraphQLResponse } from "@apollo/server";
import type { FastifyRequest } from "fastify";
import type { GraphQLSchema, ParseOptions, ValidationRule } from "graphql";
import type { ServerMetrics } from "../../http/metrics.js";
import type { AuditLog } from "../../security/audit/audit-log.js";
import type { SchemaViews } from "../../security/authz/schema-view.js";
import { introspectionFromViews } from "../../security/authz/view-introspection.js";
import { CostBudgets } from "../../security/limits/budget.js";
import { minimumOperationCost } from "../../security/limits/cost-model.js";
import { type Release, shareKeysOf } from "../../security/limits/fair-share.js";
import { createContext } from "../context.js";
import { DATABASE_RETRY_AFTER_SECONDS, databaseUnavailable, ErrorCode } from "../errors.js";
import type { Context, Services } from "../types.js";
import { actorOf, admitStage, type Refusal, type SentDocuments } from "./admit.js";
import { analyseStage } from "./analyse.js";
import { authenticateStage } from "./authenticate.js";
import { executeStage } from "./execute.js";
import { recordStage } from "./record.js";
import { bindRun, OperationCharge, type OperationRun } from "./run.js";
import { composeStages, type Stage } from "./stage.js";

export type { Refusal } from "./admit.js";

const UNEXPECTED_FAILURE: HTTPGraphQLResponse = {
  status: 500,
  headers: new HeaderMap(),
  body: { kind: "complete", string: "" },
};

/**
 * The answer of an operation whose event could not be stored in time (the database stopped
 * taking writes): nothing it read or did goes out unaudited.
 */
function unauditedResponse(requestId: string, answered: HTTPGraphQLResponse): HTTPGraphQLResponse {
  const headers = new HeaderMap();
  headers.set("content-type", answered.headers.get("content-type") ?? "application/json");
  headers.set("retry-after", String(DATABASE_RETRY_AFTER_SECONDS));
  const error = {
    message: "The operation could not be audited; retry later",
    extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, requestId },
  };
  return {
    status: 503,
    headers,
    body: { kind: "complete", string: `${JSON.stringify({ errors: [error] })}\n` },
  };
}

/** What the GraphQL route needs of the pipeline (the bench's bare server has a trivial one). */
export interface OperationPipeline {
  /** Refuses a request as a whole before any operation runs, or admits its operations. */
  admitRequest(
    request: FastifyRequest,
    operations: unknown[] | undefined,
    documents?: SentDocuments,
  ): Promise<Refusal | undefined>;
  /**
   * Runs one operation: `execute` hands Apollo the context function, whose failure (a 401, a
   * 429) Apollo answers; every operation is recorded whatever its fate.
   */
  runOperation(
    request: FastifyRequest,
    operation: unknown,
    execute: (context: () => Promise<Context>) => Promise<HTTPGraphQLResponse>,
  ): Promise<HTTPGraphQLResponse>;
}

export interface Pipeline extends OperationPipeline {
  parseOptions: ParseOptions;
  validationRules: ValidationRule[];
  plugin: ApolloServerPlugin<Context>;
  /** The schema with every stage's resolver wrappers (changed in place). */
  wrapSchema(schema: GraphQLSchema): GraphQLSchema;
}

export function buildPipeline(
  services: Services,
  parts: {
    audit: AuditLog;
    metrics: ServerMetrics;
    views: SchemaViews;
    operationTracing?: Stage | undefined;
  },
): Pipeline {
  const { config } = services;
  const budgets = new CostBudgets(config.budgets, {
    redis: services.redis,
    keyPrefix: config.redisKeyPrefix,
    logger: services.logger,
  });
  const admit = admitStage({
    batchLimit: config.limits.batch,
    trustedDocumentsMode: config.trustedDocuments.mode,
    refusalHoldMs: config.fairShare.refusalHoldMs,
    tokens: services.tokens,
    fairShare: services.fairShare,
    audit: parts.audit,
    budgets,
  });
  const authenticate = authenticateStage({
    config,
    db: services.database.db,
    principals: services.principals,
  });
  const analyse = analyseStage(config);
  const stages: Stage[] = [
    authenticate,
    { listener: introspectionFromViews(parts.views) },
    analyse,
    executeStage(config),
    ...recordStage(parts.metrics),
    ...(parts.operationTracing ? [parts.operationTracing] : []), // last: the final response
  ];

  return {
    parseOptions: analyse.parseOptions,
    validationRules: stages.flatMap((stage) => stage.validationRules ?? []),
    plugin: composeStages(stages),
    wrapSchema: (schema) => stages.reduce((s, stage) => stage.wrapSchema?.(s) ?? s, schema),
    admitRequest: (request, operations, documents) =>
      admit.admitRequest(request, operations, documents),

    async runOperation(request, operation, execute) {
      const started = performance.now();
      const caller = admit.callerOf(request);
      const run: OperationRun = {
        audit: parts.audit.begin(request, operation),
        charge: new OperationCharge(budgets, admit.accountOf(request)),
        meter: undefined,
        type: undefined,
      };
      if (caller.kind === "token") run.audit.claim(actorOf(caller.claims));
      let release: Release | undefined;
      let context: Context | undefined;
      try {
        const response = await execute(async () => {
          release = await admit.admitOperation(caller, request.ip, run.charge);
          const principal = await authenticate
            .principalOf(request, caller)
            .catch((error: unknown) => {
              if (!services.databaseHealth.failed(error)) throw error;
              throw databaseUnavailable();
            });
          context = createContext(services, {
            principal,
            requestId: request.id,
            ip: request.ip,
            userAgent: request.headers["user-agent"],
            shareKeys: shareKeysOf(principal, request.ip),
          });
          return bindRun(run.audit.attach(context), run);
        });
        // Refused in the context function (Apollo ran no hook): recorded and charged here.
        const ran = run.audit.recorded;
        if (!ran) {
          run.audit.recordHttpResponse(response);
          await run.charge.settle(minimumOperationCost(run.type));
        }
        if (response.status === 429) await admit.holdRefusal(response, started);
        // Group commit: an operation that ran is answered once its event is stored (a few ms).
        // The wait takes no share of the server: the caller's slot is given back first.
        release?.();
        release = undefined;
        if (ran && !(await run.audit.eventStored())) return unauditedResponse(request.id, response);
        return response;
      } catch (error) {
        // Apollo failed unexpectedly: nothing of the operation commits, and it is still recorded.
        await context?.operation.transaction?.rollback();
        run.audit.recordHttpResponse(UNEXPECTED_FAILURE);
        throw error;
      } finally {
        release?.();
      }
    },
  };
}
