import { readFileSync } from "node:fs";
import { TrustedKeys } from "../signing.js";
import { verifyExport } from "../verify-export.js";
import { verifyChains } from "../verify.js";
import {
  configuredServer,
  openConfiguredDatabase,
  parseArguments,
  publicKeyArgument,
  runCommand,
  UsageError,
} from "./arguments.js";

/*
 * npm run audit:verify -- --file <export.jsonl> --public-key <file or key> [--public-key ...]
 *   checks an export (npm run audit:export) offline: no database, no secret.
 * npm run audit:verify
 *   walks every chain and checkpoint of the configured database (DATABASE_URL, or the PGlite
 *   under DATA_DIR), trusting the configured AUDIT_SIGNING_KEY's public key and any given.
 * Prints one JSON report; exits 0 when intact, 1 when not, 2 on a usage error or a failure.
 */
await runCommand("audit:verify", async () => {
  const args = parseArguments({
    file: { type: "string" },
    "public-key": { type: "string", multiple: true },
  });
  const given = (args["public-key"] ?? []).map(publicKeyArgument);
  if (args.file !== undefined) {
    if (given.length === 0) {
      throw new UsageError("--file needs --public-key (npm run audit:public-key prints it)");
    }
    let content: Buffer;
    try {
      content = readFileSync(args.file);
    } catch {
      throw new UsageError(`--file: cannot read ${args.file}`);
    }
    const report = verifyExport(content, new TrustedKeys(given));
    console.log(JSON.stringify(report));
    return report.intact ? 0 : 1;
  }
  const config = configuredServer();
  const keys = new TrustedKeys([config.audit.signingKey, ...given]);
  const database = await openConfiguredDatabase(config);
  try {
    const report = await verifyChains(database.db, keys);
    console.log(JSON.stringify(report));
    return report.intact ? 0 : 1;
  } finally {
    await database.close();
  }
});
