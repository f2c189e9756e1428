import type { Config } from "../config.js";

/**
 * The one switch for "Did you mean …?" hints in error messages. They name fields, types and
 * enum values, so they are only shown in development with a public schema (BEHAVIOUR.md: off
 * outside development). formatError applies it to every error, whatever produced it
 * (validation, variable coercion, graphql-armor), so no other layer needs its own switch.
 */
export const fieldSuggestionsEnabled = (
  config: Pick<Config, "introspection" | "isDevelopment">,
): boolean => config.isDevelopment && config.introspection === "public";

const SUGGESTION = / ?Did you mean [^?]*\?/g;

/** The message without its suggestions ("Cannot query field "x" on type "Y"."). */
export const withoutSuggestions = (message: string): string =>
  message.replace(SUGGESTION, "").trim();
