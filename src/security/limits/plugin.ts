import type { ApolloServerPlugin, GraphQLRequestContext } from "@apollo/server";
import { ApolloArmor } from "@escape.tech/graphql-armor";
import {
  getVariableValues,
  GraphQLError,
  type GraphQLFormattedError,
  type ParseOptions,
  type ValidationRule,
} from "graphql";
import type { Config } from "../../config.js";
import type { Context } from "../../graphql/context.js";
import { ErrorCode } from "../../graphql/errors.js";
import { OperationAnalysis } from "./analysis.js";
import { introspectionLimitRule } from "./introspection.js";
import type { BucketState, CostBudgets } from "./budget.js";
import { budgetExhausted, limitExceeded } from "./errors.js";
import { type OperationMeter, startMeter } from "./meter.js";

/** The one switch for "Did you mean …" hints: only in development with a public schema. */
export const suggestionsAllowed = (config: Config): boolean =>
  config.isDevelopment && config.introspection === "public";

/** Most fields an operation may expand to (fragments inlined) before it is analysed at all. */
export const MAX_EXPANDED_FIELDS = 10_000;

/**
 * Aliases and directives, counted by graphql-armor during validation, and the bounds of
 * introspection (introspectionLimitRule). Its rejections become
 * errors with our codes (Apollo keeps them as the originalError of its validation error).
 */
export function limitValidationRules(limits: Config["limits"]): ValidationRule[] {
  const reportAs =
    (code: ErrorCode) =>
    (context: { reportError(error: GraphQLError): void } | null, error: GraphQLError) =>
      context?.reportError(
        new GraphQLError(error.message.replace(/^Syntax Error: /, ""), { extensions: { code } }),
      );
  const armor = new ApolloArmor({
    maxAliases: {
      n: limits.aliases,
      propagateOnRejection: false,
      onReject: [reportAs(ErrorCode.ALIAS_LIMIT_EXCEEDED)],
    },
    maxDirectives: {
      n: limits.directives,
      propagateOnRejection: false,
      onReject: [reportAs(ErrorCode.DIRECTIVE_LIMIT_EXCEEDED)],
    },
    // Armor's Apollo token plugin throws from parsingDidStart, which Apollo Server 5 turns into a
    // 500; graphql-js counts tokens in the parser itself (limitParseOptions). Depth and cost have
    // their own libraries below; suggestions are hidden by the plugin.
    maxTokens: { enabled: false },
    maxDepth: { enabled: false },
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  });
  return [...armor.protect().validationRules, introspectionLimitRule];
}

/** The token limit, enforced by graphql-js while parsing (the document is never fully built). */
export const limitParseOptions = (limits: Config["limits"]): ParseOptions => ({
  maxTokens: limits.tokens,
});

// graphql-js 16 says "more that N tokens"; accept the corrected spelling too.
const TOKEN_LIMIT_MESSAGE = /Document contains more th(?:at|an) (\d+) tokens/;
const SUGGESTION = / ?Did you mean(.+?)\?$/;
const STATIC_LIMIT_CODES: ReadonlySet<unknown> = new Set([
  ErrorCode.ALIAS_LIMIT_EXCEEDED,
  ErrorCode.DIRECTIVE_LIMIT_EXCEEDED,
  // introspectionLimitRule's
  ErrorCode.DEPTH_LIMIT_EXCEEDED,
  ErrorCode.COST_LIMIT_EXCEEDED,
]);

/** Gives parse and validation errors raised by a limit that limit's code; hides suggestions. */
function relabel(error: GraphQLError, hideSuggestions: boolean): void {
  const original = error.originalError;
  const originalCode = original instanceof GraphQLError ? original.extensions.code : undefined;
  if (STATIC_LIMIT_CODES.has(originalCode)) {
    error.extensions.code = originalCode;
  } else if (error.extensions.code === ErrorCode.GRAPHQL_PARSE_FAILED) {
    const tokens = TOKEN_LIMIT_MESSAGE.exec(error.message);
    if (tokens) {
      error.extensions.code = ErrorCode.TOKEN_LIMIT_EXCEEDED;
      error.message = `The document has more than ${tokens[1]} tokens`;
    }
  }
  if (hideSuggestions) error.message = error.message.replace(SUGGESTION, "");
}

interface CostReport {
  requestedQueryCost: number;
  actualQueryCost: number;
  throttleStatus: { maximumAvailable: number; currentlyAvailable: number; restoreRate: number };
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

/**
 * Depth, cost, budget and time limits of every operation (one Apollo plugin):
 * - after validation: depth (graphql-depth-limit) and requested cost (graphql-query-complexity)
 *   refused with 400; then the requested cost is taken from the caller's budget (429 if short);
 * - during execution: the meter counts the actual cost and enforces the deadline;
 * - before the response: the unused cost is given back and `extensions.cost` reports it all.
 */
export function limitsPlugin(config: Config, budgets: CostBudgets): ApolloServerPlugin<Context> {
  const { limits } = config;
  const hideSuggestions = !suggestionsAllowed(config);

  return {
    requestDidStart() {
      let requested: number | undefined;
      let charged = 0;
      let state: BucketState | undefined;
      let account: ReturnType<CostBudgets["accountOf"]> | undefined;
      let meter: OperationMeter | undefined;

      const analyse = async (request: GraphQLRequestContext<Context>) => {
        const { operation, document, schema, contextValue } = request;
        if (!operation || !document) return;
        const analysis = OperationAnalysis.of(schema, document, operation);
        const variables = getVariableValues(
          schema,
          operation.variableDefinitions ?? [],
          request.request.variables ?? {},
        );
        account = budgets.accountOf(contextValue.principal, contextValue.ip);
        if (variables.errors) {
          // Execution reports the bad variables (BAD_USER_INPUT) and runs nothing.
          requested = 0;
          state = await budgets.apply(account, 0, "take");
          return;
        }
        if (analysis.expandedFields > MAX_EXPANDED_FIELDS) {
          throw limitExceeded(
            ErrorCode.COST_LIMIT_EXCEEDED,
            `The operation expands to more than ${MAX_EXPANDED_FIELDS} fields`,
          );
        }
        if (analysis.exceedsDepth(limits.depth)) {
          throw limitExceeded(
            ErrorCode.DEPTH_LIMIT_EXCEEDED,
            `The operation is deeper than the limit of ${limits.depth}`,
          );
        }
        requested = analysis.cost(request.request.variables);
        contextValue.cost = { requested, actual: null }; // read by the audit log
        const maximum = Math.min(limits.cost, account.policy.points);
        if (requested > maximum) {
          state = await budgets.apply(account, 0, "take");
          throw limitExceeded(
            ErrorCode.COST_LIMIT_EXCEEDED,
            `The operation costs ${requested} points; the limit is ${maximum}`,
          );
        }
        state = await budgets.apply(account, requested, "take");
        if (!state.allowed)
          throw budgetExhausted(Math.max(1, Math.ceil(state.retryAfterMs / 1000)));
        charged = requested;
      };

      return Promise.resolve({
        didEncounterErrors: ({ errors }) => {
          for (const error of errors) relabel(error, hideSuggestions);
          return Promise.resolve();
        },
        didResolveOperation: analyse,
        executionDidStart: ({ contextValue }) => {
          meter = startMeter(contextValue, limits.executionTimeoutMs);
          return Promise.resolve({
            executionDidEnd: () => {
              meter?.stop();
              if (contextValue.cost) contextValue.cost.actual = meter?.actualCost ?? null;
              return Promise.resolve();
            },
          });
        },
        willSendResponse: async ({ response }) => {
          if (response.body.kind !== "single") return;
          const result = response.body.singleResult;
          if (result.errors) result.errors = collapseTimeouts(result.errors);
          if (requested === undefined || !account || !state) return;
          const actual = meter?.actualCost ?? 0;
          if (actual !== charged) state = await budgets.apply(account, actual - charged, "force");
          const cost: CostReport = {
            requestedQueryCost: requested,
            actualQueryCost: actual,
            throttleStatus: {
              maximumAvailable: account.policy.points,
              currentlyAvailable: state.available,
              restoreRate: account.policy.restorePerSecond,
            },
          };
          result.extensions = { ...result.extensions, cost };
        },
      });
    },
  };
}
