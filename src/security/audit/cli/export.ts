import { once } from "node:events";
import { organizationIdOf } from "../../../graphql/ids.js";
import { writeCheckpoints } from "../checkpoint.js";
import { LEGACY_CHAIN, NO_ORGANIZATION_CHAIN } from "../event.js";
import { exportChain } from "../export.js";
import { signerOf } from "../signing.js";
import { configuredServer, parseArguments, runCommand, UsageError } from "./arguments.js";
import { openConfiguredDatabase } from "../../../db/client.js";

/*
 * npm run audit:export -- --organization <id> [--since <ISO time>]
 *   writes one organization's audit chain as JSON Lines to stdout: its events and signed
 *   checkpoints, up to a checkpoint written now, for `npm run audit:verify -- --file`.
 *   --organization takes the organization's id (a UUID, or its GraphQL global id);
 *   `--chain none` and `--chain legacy` export the events without an organization, and the
 *   single chain of the releases before chains per organization.
 */
function chainOf(args: { organization?: string; chain?: string }): string {
  if ((args.organization === undefined) === (args.chain === undefined)) {
    throw new UsageError("give --organization <id>, or --chain none|legacy");
  }
  if (args.chain !== undefined) {
    if (args.chain === "none") return NO_ORGANIZATION_CHAIN;
    if (args.chain === "legacy") return LEGACY_CHAIN;
    throw new UsageError("--chain must be none or legacy");
  }
  const rowId = organizationIdOf(args.organization!);
  if (!rowId) throw new UsageError("--organization must be an organization id");
  return rowId;
}

function sinceOf(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const since = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(since.getTime())) {
    throw new UsageError("--since must be an ISO 8601 time, e.g. 2026-12-01T00:00:00Z");
  }
  return since;
}

await runCommand("audit:export", async () => {
  const args = parseArguments({
    organization: { type: "string" },
    chain: { type: "string" },
    since: { type: "string" },
  });
  const chainId = chainOf(args);
  const since = sinceOf(args.since);
  const config = configuredServer();
  const database = await openConfiguredDatabase(config);
  try {
    await writeCheckpoints(database.db, signerOf(config.audit.signingKey), { chains: [chainId] });
    let lines = 0;
    await database.db.transaction(
      async (snapshot) => {
        for await (const line of exportChain(snapshot, { chainId, ...(since ? { since } : {}) })) {
          lines += 1;
          if (!process.stdout.write(line)) await once(process.stdout, "drain");
        }
      },
      { isolationLevel: "repeatable read", accessMode: "read only" },
    );
    if (lines === 0) {
      console.error("audit:export: this chain has no events");
      return 1;
    }
    return 0;
  } finally {
    await database.close();
  }
});
