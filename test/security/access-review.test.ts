import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.js";
import { parseConfig } from "../../src/config.js";
import { rowIdOf } from "../../src/graphql/ids.js";
import { projectPath } from "../../src/paths.js";
import { createApiClient, type PartnerClient } from "../support/api-clients.js";
import { createTenant, type RoleName, type Tenant } from "../support/fixtures.js";
import { dataOf, gql } from "../support/graphql.js";
import { productionEnv, usingPostgres } from "../support/server.js";

/*
 * `npm run access:review` on a database where an organization has one user of each role, an
 * active API client and a revoked one. The command runs as its own process against the database
 * a server wrote (the PostgreSQL of DATABASE_URL, or an embedded one on disk under DATA_DIR).
 */

const run = promisify(execFile);
/** Those who can do the most first. */
const REVIEW_ORDER: RoleName[] = ["ADMIN", "AUDITOR", "AGENT", "VIEWER"];
const secrets = (() => {
  const { NODE_ENV: _production, ...rest } = productionEnv({ BCRYPT_ROUNDS: "4" });
  return rest;
})();

let dataDir: string;
let env: Record<string, string>;
let tenant: Tenant;
let reader: PartnerClient;
let revoked: PartnerClient;
let orgRowId: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "access-review-"));
  env = {
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    DATA_DIR: dataDir,
    ...(usingPostgres() ? { DATABASE_URL: process.env.DATABASE_URL! } : {}),
    ...secrets,
  };
  const app = await buildApp(parseConfig(env).config);
  try {
    await app.server.listen({ port: 0, host: "127.0.0.1" });
    const address = app.server.server.address();
    const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    tenant = await createTenant(url, "access-review");
    const admin = tenant.members.ADMIN.token;
    reader = await createApiClient(url, admin, ["customers:read", "customers:pii"]);
    revoked = await createApiClient(url, admin, ["audit:read"]);
    dataOf(
      await gql(
        url,
        `mutation($id: ID!) { revokeApiClient(id: $id) { id } }`,
        { id: revoked.id },
        {
          token: admin,
        },
      ),
    );
  } finally {
    await app.close();
  }
  orgRowId = rowIdOf(tenant.orgId, "Organization")!;
}, 180_000);

afterAll(() => {
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function accessReview(...args: string[]) {
  const { stdout } = await run(
    process.execPath,
    [projectPath("dist/src/cli/access-review.js"), ...args],
    { env: { PATH: process.env.PATH, ...env }, cwd: projectPath(".") },
  );
  return { stdout, report: JSON.parse(stdout) as { organizations: any[] } };
}

describe("npm run access:review", () => {
  it(
    "prints each user's role and each API client's scopes and state, without emails, hashes or secrets",
    { timeout: 120_000 },
    async () => {
      const { stdout, report } = await accessReview("--organization", tenant.orgId);
      expect(report.organizations).toHaveLength(1);
      const [org] = report.organizations;
      expect(org).toMatchObject({ id: orgRowId, name: tenant.name });
      expect(org.users.map((u: any) => [u.id, u.role])).toEqual(
        REVIEW_ORDER.map((role) => [rowIdOf(tenant.members[role].id, "User"), role]),
      );
      expect(Object.keys(org.users[0]).sort()).toEqual(
        ["createdAt", "displayName", "id", "lastLoginAt", "role"].sort(),
      );
      const clients = Object.fromEntries(org.apiClients.map((c: any) => [c.clientId, c]));
      expect(clients[reader.clientId]).toMatchObject({
        scopes: ["customers:pii", "customers:read"],
        state: "active",
        revokedAt: null,
      });
      expect(clients[revoked.clientId]).toMatchObject({ scopes: ["audit:read"], state: "revoked" });
      expect(clients[revoked.clientId].revokedAt).toEqual(expect.any(String));

      for (const member of Object.values(tenant.members))
        expect(stdout).not.toContain(member.email);
      expect(stdout).not.toContain(reader.clientSecret);
      expect(stdout).not.toMatch(/\$2[aby]\$/); // a bcrypt hash
      expect(stdout).not.toMatch(/"v1\.[^"]+\./); // a stored ciphertext
    },
  );

  it("adds each user's email, decrypted with the server's keys, only with --emails", async () => {
    const { report } = await accessReview("--organization", orgRowId, "--emails");
    const users = report.organizations[0].users as { role: RoleName; email: string }[];
    expect(users.map((u) => [u.role, u.email])).toEqual(
      REVIEW_ORDER.map((role) => [role, tenant.members[role].email]),
    );
  }, 120_000);

  it("refuses an organization argument that names no organization, with status 2", async () => {
    await expect(accessReview("--organization", "acme")).rejects.toMatchObject({ code: 2 });
  }, 60_000);
});
