import { parseConfig } from "../../config.js";
import { openDatabase } from "../client.js";
import { loadEnvironment } from "../../env-file.js";

const { config } = parseConfig(loadEnvironment());
const database = await openDatabase({
  databaseUrl: config.databaseUrl,
  dataDir: config.dataDir,
  statementTimeoutMs: config.limits.statementTimeoutMs,
});
console.log(`migrations applied (${database.driver})`);
await database.close();
