import { existsSync, readFileSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { parseConfig } from "../../../config.js";
import { parsePublicKey } from "../signing.js";
import { loadEnvironment } from "../../../env-file.js";

/*
 * What the audit commands share: their arguments (a usage error exits 2), the server's own
 * configuration and database, and public keys given as files or as text.
 */

export class UsageError extends Error {}

export function parseArguments<T extends ParseArgsConfig["options"]>(options: T) {
  try {
    return parseArgs({ options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** A public key given as a file (PEM or base64 DER) or as the text itself. */
export function publicKeyArgument(value: string) {
  const text = existsSync(value) ? readFileSync(value, "utf8") : value;
  try {
    return parsePublicKey(text);
  } catch (error) {
    throw new UsageError(`--public-key: ${(error as Error).message}`);
  }
}

export const configuredServer = () => parseConfig(loadEnvironment()).config;

/** Runs a command: usage errors exit 2 with the message, other failures exit 2 too. */
export async function runCommand(name: string, command: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await command();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(
      error instanceof UsageError ? `${name}: ${message}` : `${name} failed: ${message}`,
    );
    process.exitCode = 2;
  }
}
