import { readFileSync } from "node:fs";
import { TrustedKeys } from "../signing.js";
import { verifyExport } from "../verify-export.js";
import { verifyChains } from "../verify.js";
import { checkPinnedInDatabase, type PinnedProblem, readPinned } from "../pinned.js";
import {
  configuredServer,
  parseArguments,
  publicKeyArgument,
  runCommand,
  UsageError,
} from "./arguments.js";
import { openConfiguredDatabase } from "../../../db/client.js";

/*
 * npm run audit:verify -- --file <export.jsonl> --public-key <file or key> [--public-key ...]
 *   checks an export (npm run audit:export) offline: no database, no secret.
 * npm run audit:verify
 *   walks every chain and checkpoint of the configured database (DATABASE_URL, or the PGlite
 *   under DATA_DIR), trusting the configured AUDIT_SIGNING_KEY's public key and any given.
 * Either way, --pinned <file> (checkpoints kept elsewhere: export lines, or the "audit
 * checkpoint" log lines a SIEM kept) must all still be there, with the events they signed.
 * Prints one JSON report; exits 0 when intact, 1 when not, 2 on a usage error or a failure.
 */
await runCommand("audit:verify", async () => {
  const args = parseArguments({
    file: { type: "string" },
    "public-key": { type: "string", multiple: true },
    pinned: { type: "string" },
  });
  const given = (args["public-key"] ?? []).map(publicKeyArgument);
  const readFile = (flag: string, path: string) => {
    try {
      return readFileSync(path);
    } catch {
      throw new UsageError(`--${flag}: cannot read ${path}`);
    }
  };
  const pinnedIn = (keys: TrustedKeys) => {
    if (args.pinned === undefined) return { pinned: [] };
    return readPinned(readFile("pinned", args.pinned).toString("utf8"), keys);
  };
  if (args.file !== undefined) {
    if (given.length === 0) {
      throw new UsageError("--file needs --public-key (npm run audit:public-key prints it)");
    }
    const keys = new TrustedKeys(given);
    const pins = pinnedIn(keys);
    if ("problem" in pins) return refusedPin(pins.problem);
    const report = verifyExport(readFile("file", args.file), keys, pins.pinned);
    console.log(JSON.stringify(report));
    return report.intact ? 0 : 1;
  }
  const config = configuredServer();
  const keys = new TrustedKeys([config.audit.signingKey, ...given]);
  const pins = pinnedIn(keys);
  if ("problem" in pins) return refusedPin(pins.problem);
  const database = await openConfiguredDatabase(config);
  try {
    const report = await verifyChains(database.db, keys);
    const pinned = report.intact
      ? await checkPinnedInDatabase(database.db, pins.pinned)
      : undefined;
    console.log(JSON.stringify(pinned ? { intact: false, pinned } : report));
    return report.intact && !pinned ? 0 : 1;
  } finally {
    await database.close();
  }
});

function refusedPin(problem: PinnedProblem): number {
  console.log(JSON.stringify({ intact: false, pinned: problem }));
  return 1;
}
