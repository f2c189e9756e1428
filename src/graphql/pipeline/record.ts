/*
 * Stage 5, record: what the operation did, once its response is final. In this order: its audit
 * event (a mutation's commits with the mutation's transaction, a query's goes to the buffer), the
 * charge settled to the actual cost and reported in extensions.cost, the response status of bad
 * variables, and the metrics. Every error carries the request id.
 */
import type { GraphQLRequestContextWillSendResponse, GraphQLRequestListener } from "@apollo/server";
import { getOperationAST } from "graphql";
import { auditFieldResolution } from "../../security/audit/field-audit.js";
import { minimumOperationCost } from "../../security/limits/cost-model.js";
import { type ServerMetrics, operationMetrics } from "../../http/metrics.js";
import type { Context } from "../types.js";
import { databaseUnavailableStatus, requestIdTagging, variableErrorsStatus } from "./errors.js";
import { type OperationRun, runOf } from "./run.js";
import type { Stage } from "./stage.js";

interface CostReport {
  requestedQueryCost: number;
  actualQueryCost: number;
  throttleStatus: { maximumAvailable: number; currentlyAvailable: number; restoreRate: number };
}

/** The operation's type, also when it was refused before Apollo resolved it. */
function operationTypeOf(
  run: OperationRun,
  rc: GraphQLRequestContextWillSendResponse<Context>,
): string | undefined {
  if (run.type) return run.type;
  if (rc.operation) return rc.operation.operation;
  // refused by validation: the document parsed, so it says what it is (a mutation pays 10)
  if (!rc.document) return undefined;
  return getOperationAST(rc.document, rc.request.operationName ?? undefined)?.operation;
}

/** Settles the charge to the actual cost (the minimum if nothing ran) and reports it. */
async function settleCharge(
  run: OperationRun,
  rc: GraphQLRequestContextWillSendResponse<Context>,
): Promise<void> {
  const actual =
    rc.contextValue.operation.cost?.actual ?? minimumOperationCost(operationTypeOf(run, rc));
  const state = await run.charge.settle(actual);
  const requested = run.charge.requested;
  if (requested === undefined || !state || rc.response.body.kind !== "single") return;
  const result = rc.response.body.singleResult;
  const { policy } = run.charge.account;
  const cost: CostReport = {
    requestedQueryCost: requested,
    actualQueryCost: run.charge.paid,
    throttleStatus: {
      maximumAvailable: policy.points,
      currentlyAvailable: state.available,
      restoreRate: policy.restorePerSecond,
    },
  };
  result.extensions = { ...result.extensions, cost };
}

const recordListener: GraphQLRequestListener<Context> = {
  willSendResponse: async (rc) => {
    const run = runOf(rc.contextValue);
    if (!run) return;
    await run.audit.recordResponse(rc, run.meter !== undefined);
    await settleCharge(run, rc);
  },
};

export function recordStage(metrics: ServerMetrics): Stage[] {
  const operationsMetrics = operationMetrics(metrics);
  return [
    {
      listener: recordListener,
      // Outermost wrapper: it sees each field's outcome as graphql-js does.
      wrapSchema: auditFieldResolution,
    },
    { listener: requestIdTagging },
    { listener: variableErrorsStatus },
    { listener: databaseUnavailableStatus },
    // Last: it reads what the stages before it put on the response.
    operationsMetrics,
  ];
}
