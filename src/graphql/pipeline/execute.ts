/*
 * Stage 4, execute: the operation runs within its deadline, with its actual cost metered, and a
 * mutation gets its transaction, opened by its first write (never before: a mutation hashes and
 * compares before it writes, and holds no connection meanwhile) and finished by the record stage
 * with the audit event inside. At the deadline a mutation is rolled back whole, and resolvers
 * still running find no database to write to.
 */
import { type GraphQLFormattedError, OperationTypeNode } from "graphql";
import type { GraphQLRequestListener } from "@apollo/server";
import type { Config } from "../../config.js";
import type { Database } from "../../db/client.js";
import { OperationTransaction } from "../../db/transaction.js";
import { minimumOperationCost } from "../../security/limits/cost-model.js";
import { instrumentSchema, startMeter } from "../../security/limits/meter.js";
import { ErrorCode } from "../errors.js";
import type { Context, OperationState } from "../types.js";
import { runOf } from "./run.js";

/** What a resolver still running past its operation's deadline gets as its database. */
const ENDED_OPERATION_DATABASE = new Proxy(
  {},
  {
    get() {
      throw new Error("the operation ended at its deadline");
    },
  },
) as Database;

/** At the deadline: the mutation's work is rolled back and nothing more can reach the database. */
function abandon(operation: OperationState): void {
  const transaction = operation.transaction;
  if (!transaction) return;
  operation.db = ENDED_OPERATION_DATABASE;
  void transaction.rollback();
}

/** Keeps one EXECUTION_TIMEOUT error (every unfinished field reports the same deadline). */
function collapseTimeouts(errors: readonly GraphQLFormattedError[]): GraphQLFormattedError[] {
  let seen = false;
  return errors.filter((error) => {
    if (error.extensions?.code !== ErrorCode.EXECUTION_TIMEOUT) return true;
    if (seen) return false;
    seen = true;
    return true;
  });
}

function executeListener(config: Config): GraphQLRequestListener<Context> {
  return {
    executionDidStart: ({ contextValue, operation }) => {
      const run = runOf(contextValue);
      const state = contextValue.operation;
      // `operation` is missing (despite its type) when operationName names no operation of the
      // document: graphql-js then answers with an error, and nothing executes.
      const type = (operation as typeof operation | undefined)?.operation;
      if (type === OperationTypeNode.MUTATION) {
        // over the operation's own view of the pool: the transaction takes one of its slots
        state.transaction = new OperationTransaction(state.db, (tx) => (state.db = tx));
      }
      state.deadline = Date.now() + config.limits.executionTimeoutMs;
      const meter = startMeter(contextValue, config.limits.executionTimeoutMs, () =>
        abandon(state),
      );
      if (run) run.meter = meter;
      return Promise.resolve({
        executionDidEnd: () => {
          meter.stop();
          if (state.cost) {
            state.cost.actual = Math.max(meter.actualCost, minimumOperationCost(type));
          }
          return Promise.resolve();
        },
      });
    },
    willSendResponse: ({ response, contextValue }) => {
      if (response.body.kind !== "single") return Promise.resolve();
      const result = response.body.singleResult;
      if (result.errors) result.errors = collapseTimeouts(result.errors);
      // Rolled back at its deadline: nothing of the mutation happened, so none of the ids or
      // values its fields had returned is answered (a client would take them for real objects).
      if (contextValue.operation.transaction?.abandoned) result.data = null;
      return Promise.resolve();
    },
  };
}

export function executeStage(config: Config) {
  return {
    listener: executeListener(config),
    /** Every field that costs or does work reports to the operation's meter. */
    wrapSchema: instrumentSchema,
  };
}
