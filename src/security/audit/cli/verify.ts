import { parseConfig } from "../../../config.js";
import { openDatabase } from "../../../db/client.js";
import { verifyChain } from "../verify.js";

/*
 * npm run audit:verify: walks the audit chain of the configured database (DATABASE_URL, or the
 * PGlite under DATA_DIR). Prints one JSON line; exits 0 when intact, 1 when tampered, 2 on error.
 */
const { config } = parseConfig(process.env);
const database = await openDatabase({
  databaseUrl: config.databaseUrl,
  dataDir: config.dataDir,
  statementTimeoutMs: 60_000,
});
try {
  const report = await verifyChain(database.db);
  console.log(JSON.stringify(report));
  process.exitCode = report.intact ? 0 : 1;
} catch (error) {
  console.error(`audit:verify failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
} finally {
  await database.close();
}
