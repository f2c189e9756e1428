/*
 * Stage 3, analyse and charge: is the document within the limits, and can its caller pay for
 * it? The token limit applies while parsing; aliases, directives, the bounds of introspection and
 * the place of credential mutations during validation; then depth and the requested cost, which
 * is taken from the caller's budget before anything runs (the record stage settles it to the
 * actual cost). Every limit answers with its own code (BEHAVIOUR.md).
 */
import type { GraphQLRequestListener } from "@apollo/server";
import { ApolloArmor } from "@escape.tech/graphql-armor";
import { getVariableValues, GraphQLError, type ParseOptions, type ValidationRule } from "graphql";
import type { Config } from "../../config.js";
import { OperationAnalysis } from "../../security/limits/analysis.js";
import { minimumOperationCost } from "../../security/limits/cost-model.js";
import { credentialFieldsFirstRule } from "../../security/limits/credential-fields.js";
import {
  aliasLimitRule,
  keepRepeatedDirectiveErrorOnly,
  repeatedDirectiveRule,
} from "../../security/limits/document-rules.js";
import { budgetExhausted, limitExceeded } from "../../security/limits/errors.js";
import { introspectionLimitRule } from "../../security/limits/introspection.js";
import { ErrorCode } from "../errors.js";
import { rewriteInputErrors } from "../input-errors.js";
import type { Context } from "../types.js";
import { runOf } from "./run.js";

/** Most fields an operation may expand to (fragments inlined) before it is analysed at all. */
export const MAX_EXPANDED_FIELDS = 10_000;

/**
 * Aliases (aliasLimitRule: armor does not count those of `__typename`), directives (counted by
 * graphql-armor, and none repeated at one location), the bounds of introspection
 * (introspectionLimitRule) and the place of credential mutations (credentialFieldsFirstRule).
 * Armor's rejections become errors with our codes (Apollo keeps them as the originalError of its
 * validation error).
 */
function validationRules(limits: Config["limits"]): ValidationRule[] {
  const reportAs =
    (code: ErrorCode) =>
    (context: { reportError(error: GraphQLError): void } | null, error: GraphQLError) =>
      context?.reportError(
        new GraphQLError(error.message.replace(/^Syntax Error: /, ""), { extensions: { code } }),
      );
  const armor = new ApolloArmor({
    maxAliases: { enabled: false },
    maxDirectives: {
      n: limits.directives,
      propagateOnRejection: false,
      onReject: [reportAs(ErrorCode.DIRECTIVE_LIMIT_EXCEEDED)],
    },
    // Armor's Apollo token plugin throws from parsingDidStart, which Apollo Server 5 turns into a
    // 500; graphql-js counts tokens in the parser itself (parseOptions). Depth and cost have
    // their own libraries below; suggestions are hidden by formatError.
    maxTokens: { enabled: false },
    maxDepth: { enabled: false },
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  });
  return [
    ...armor.protect().validationRules,
    aliasLimitRule(limits.aliases),
    repeatedDirectiveRule,
    introspectionLimitRule,
    credentialFieldsFirstRule,
  ];
}

// graphql-js 16 says "more that N tokens"; accept the corrected spelling too.
const TOKEN_LIMIT_MESSAGE = /Document contains more th(?:at|an) (\d+) tokens/;
const STATIC_LIMIT_CODES: ReadonlySet<unknown> = new Set([
  ErrorCode.ALIAS_LIMIT_EXCEEDED,
  ErrorCode.DIRECTIVE_LIMIT_EXCEEDED,
  // introspectionLimitRule's
  ErrorCode.DEPTH_LIMIT_EXCEEDED,
  ErrorCode.COST_LIMIT_EXCEEDED,
]);

/** Gives parse and validation errors raised by a limit that limit's code. */
function relabel(error: GraphQLError): void {
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
}

/**
 * After validation: the operation's size, depth and requested cost (never below the minimum of
 * its type), refused with 400 past a limit; then the cost is taken from the caller's budget, or
 * the operation is refused with 429.
 */
function analyseListener(limits: Config["limits"]): GraphQLRequestListener<Context> {
  return {
    didEncounterErrors: ({ errors, schema, document, operation, request }) => {
      // Apollo formats this very array next: a repeated directive is answered with one error.
      keepRepeatedDirectiveErrorOnly(errors as GraphQLError[]);
      rewriteInputErrors(errors, { schema, document, operation, variables: request.variables });
      for (const error of errors) relabel(error);
      return Promise.resolve();
    },
    didResolveOperation: async ({ operation, document, schema, contextValue, request }) => {
      const run = runOf(contextValue);
      if (!run || !operation) return;
      run.type = operation.operation;
      const minimum = minimumOperationCost(operation.operation);
      const analysis = OperationAnalysis.of(schema, document, operation);
      const variables = getVariableValues(
        schema,
        operation.variableDefinitions ?? [],
        request.variables ?? {},
      );
      if (variables.errors) {
        // Execution reports the bad variables (BAD_USER_INPUT) and runs nothing: the minimum.
        run.charge.requested = minimum;
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
      const requested = Math.max(minimum, analysis.cost(request.variables));
      contextValue.operation.cost = { requested, actual: null }; // read by the audit log
      const maximum = Math.min(limits.cost, run.charge.account.policy.points);
      if (requested > maximum) {
        run.charge.requested = requested;
        throw limitExceeded(
          ErrorCode.COST_LIMIT_EXCEEDED,
          `The operation costs ${requested} points; the limit is ${maximum}`,
        );
      }
      const state = await run.charge.take(requested);
      if (!state.allowed) throw budgetExhausted(Math.max(1, Math.ceil(state.retryAfterMs / 1000)));
    },
  };
}

export function analyseStage(config: Config) {
  return {
    /** The token limit, enforced by graphql-js while parsing (the document is never fully built). */
    parseOptions: { maxTokens: config.limits.tokens } satisfies ParseOptions,
    validationRules: validationRules(config.limits),
    listener: analyseListener(config.limits),
  };
}
