import { parseArgs } from "node:util";
import { parseConfig } from "../../config.js";
import { BlindIndex, FieldCipher } from "../../security/pii.js";
import { type Database, openConfiguredDatabase } from "../client.js";
import { DEFAULT_BATCH_SIZE } from "../pii-rotation.js";
import { loadEnvironment } from "../../env-file.js";

export interface PiiCommandContext {
  db: Database;
  cipher: FieldCipher;
  blindIndex: BlindIndex;
  batchSize: number;
  flags: Record<string, boolean>;
}

/**
 * Runs a personal-data maintenance command with the server's own configuration (the same
 * environment as the instances serving traffic). Output is counts and row ids, never values.
 * Exit status: 0 when nothing is left to do, 1 when some rows failed, 2 on a usage error.
 */
export async function runPiiCommand(
  booleanFlags: string[],
  run: (context: PiiCommandContext) => Promise<{ remaining: number; failures: unknown[] }>,
): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        "batch-size": { type: "string" },
        ...Object.fromEntries(booleanFlags.map((flag) => [flag, { type: "boolean" as const }])),
      },
    }).values;
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  }
  const batchSize = Number(args["batch-size"] ?? DEFAULT_BATCH_SIZE);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    console.error("--batch-size must be an integer from 1 to 10000");
    process.exit(2);
  }
  const { config } = parseConfig(loadEnvironment());
  const database = await openConfiguredDatabase(config);
  try {
    const report = await run({
      db: database.db,
      cipher: new FieldCipher(config.pii.keys, config.pii.activeKeyId),
      blindIndex: new BlindIndex(config.pii.blindIndexKey, config.pii.blindIndexNextKey),
      batchSize,
      flags: Object.fromEntries(
        booleanFlags.map((flag) => [flag, (args as Record<string, unknown>)[flag] === true]),
      ),
    });
    console.log(JSON.stringify(report, null, 2));
    process.exitCode = report.failures.length > 0 || report.remaining > 0 ? 1 : 0;
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  } finally {
    await database.close();
  }
}
