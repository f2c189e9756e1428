import { existsSync } from "node:fs";
import { ConfigError } from "./config.js";

/**
 * The environment of the server and of the operator commands, with the settings of an env file
 * added (docs/configuration.md): ENV_FILE names it, `.env` in the working directory by default;
 * `ENV_FILE=` (empty) reads none, and neither does NODE_ENV=test, so a developer's `.env` never
 * changes what the tests run against. A variable already set in the environment wins over the
 * file (Node's loader never overwrites one): a deployment's real settings cannot be shadowed.
 */
export function loadEnvironment(): NodeJS.ProcessEnv {
  const named = process.env.ENV_FILE;
  const file = named ?? (process.env.NODE_ENV === "test" ? "" : ".env");
  if (file === "") return process.env;
  if (!existsSync(file)) {
    // An absent default file is the normal case; an absent named one is a mistake.
    if (named !== undefined) {
      throw new ConfigError(`Invalid configuration: ENV_FILE names ${named}, which does not exist`);
    }
    return process.env;
  }
  process.loadEnvFile(file);
  return process.env;
}
