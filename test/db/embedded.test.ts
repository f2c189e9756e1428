import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.js";
import { parseConfig } from "../../src/config.js";
import { DEMO_PASSWORD } from "../../src/db/seed.js";
import { dataOf, gql } from "../support/graphql.js";

/* What a new user gets from `npm start`: development on the embedded database under ./data. */
const dataDir = mkdtempSync(join(tmpdir(), "embedded-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function startDevelopment() {
  const { config, warnings } = parseConfig({
    NODE_ENV: "development",
    DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
    BCRYPT_ROUNDS: "4",
  });
  const app = await buildApp(config);
  await app.server.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  return { app, url, warnings };
}

const logInAs = async (url: string, email: string) =>
  dataOf(
    await gql(
      url,
      `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }`,
      {
        e: email,
        p: DEMO_PASSWORD,
      },
    ),
  ).logIn.accessToken as string;

describe("the embedded database in development", () => {
  it("seeds demo data once, keeps generated secrets private, and survives a restart", async () => {
    const first = await startDevelopment();
    expect(first.warnings.join()).toMatch(/JWT_SECRET.*generated now/);
    expect(statSync(join(dataDir, "secrets.json")).mode & 0o777).toBe(0o600);
    const token = await logInAs(first.url, "agent@acme.example");
    const before = dataOf(
      await gql(first.url, `{ customers { totalCount } organization { name } }`, {}, { token }),
    );
    expect(before.organization.name).toBe("Acme Insurance");
    expect(before.customers.totalCount).toBe(3);
    dataOf(
      await gql(
        first.url,
        `mutation { createCustomer(input: { name: "Kept", email: "kept@example.com" }) { id } }`,
        {},
        { token },
      ),
    );
    await first.app.close();

    const second = await startDevelopment();
    expect(second.warnings.join()).not.toMatch(/generated now/);
    // the same secrets: the old access token still verifies, and the data is still there, seeded once
    const after = dataOf(
      await gql(
        second.url,
        `{ customers(filter: { email: "kept@example.com" }) { nodes { name email } } }`,
        {},
        { token },
      ),
    );
    expect(after.customers.nodes).toEqual([{ name: "Kept", email: "kept@example.com" }]);
    const globex = await logInAs(second.url, "viewer@globex.example");
    const other = dataOf(
      await gql(second.url, `{ customers { totalCount } }`, {}, { token: globex }),
    );
    expect(other.customers.totalCount).toBe(2);
    await second.app.close();
  }, 60_000);
});
