import type { GraphQLSchema } from "graphql";
import type { Config } from "../../config.js";
import type { Services } from "../../graphql/context.js";
import { CostBudgets } from "./budget.js";
import { instrumentSchema } from "./meter.js";
import { limitParseOptions, limitsPlugin, limitValidationRules } from "./plugin.js";

export { suggestionsAllowed } from "./plugin.js";

/**
 * Everything Apollo needs for the abuse limits of BEHAVIOUR.md: the token limit (parser), the
 * alias and directive limits (validation), depth, cost, budgets and time (plugin), and the
 * schema instrumentation that measures actual cost and enforces the deadline.
 */
export function abuseLimits(config: Config, services: Pick<Services, "redis" | "logger">) {
  const budgets = new CostBudgets(config.budgets, {
    redis: services.redis,
    keyPrefix: config.redisKeyPrefix,
    logger: services.logger,
  });
  return {
    parseOptions: limitParseOptions(config.limits),
    validationRules: limitValidationRules(config.limits),
    plugin: limitsPlugin(config, budgets),
    instrument: (schema: GraphQLSchema) => instrumentSchema(schema),
  };
}
