import { parseArgs } from "node:util";
import { parseConfig } from "../config.js";
import { openConfiguredDatabase } from "../db/client.js";
import { organizationIdOf } from "../graphql/ids.js";
import { reviewAccess } from "../security/access-review.js";
import { FieldCipher } from "../security/pii.js";
import { loadEnvironment } from "../env-file.js";

/*
 * npm run access:review [-- --organization <id>] [-- --emails]: prints, as JSON, every
 * organization's users with their roles and API clients with their scopes and state, for a
 * periodic access review. Same environment as the server (DATABASE_URL, or the PGlite under
 * DATA_DIR; PII_KEYS only with --emails). Exit status 0, or 2 on a usage or database error.
 */
let args;
try {
  args = parseArgs({
    options: { organization: { type: "string" }, emails: { type: "boolean" } },
  }).values;
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(2);
}
// The API's global id (Organization.id) or the row's UUID (audit_events.org_id) both name it.
const organizationId =
  args.organization === undefined ? undefined : organizationIdOf(args.organization);
if (args.organization !== undefined && !organizationId) {
  console.error("--organization must be an organization's id (Organization.id or its UUID)");
  process.exit(2);
}

const { config } = parseConfig(loadEnvironment());
const database = await openConfiguredDatabase(config);
try {
  const organizations = await reviewAccess(database.db, {
    organizationId,
    emailCipher: args.emails ? new FieldCipher(config.pii.keys, config.pii.activeKeyId) : undefined,
  });
  console.log(JSON.stringify({ generatedAt: new Date().toISOString(), organizations }, null, 2));
} catch (error) {
  console.error(`access:review failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
} finally {
  await database.close();
}
