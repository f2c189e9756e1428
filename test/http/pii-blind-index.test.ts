import { beforeAll, describe, expect, it } from "vitest";
import { createCustomer, createTenant, logIn, type Tenant } from "../support/fixtures.js";
import { codesOf, dataOf, gql } from "../support/graphql.js";
import { sharedTestServer, type TestServer } from "../support/server.js";

/*
 * Login and the customer email filter find rows by blind index: the SQL the server sends (as
 * captured from the driver) compares email_bidx with a bound HMAC, and neither the statements
 * nor their parameters carry the email or any decryption.
 */

let server: TestServer;
let tenant: Tenant;
const customerEmail = "blind.index.subject@bidx.example";

beforeAll(async () => {
  server = await sharedTestServer();
  tenant = await createTenant(server.url, "bidx");
  await createCustomer(server.url, tenant.members.AGENT.token, {
    name: "Blind Index Subject",
    email: customerEmail,
  });
  await createCustomer(server.url, tenant.members.AGENT.token, { name: "Someone Else" });
});

async function capture<T>(run: () => Promise<T>) {
  const statements: { query: string; params: unknown[] }[] = [];
  const stop = server.app.services.database.observe((query, params) =>
    statements.push({ query, params }),
  );
  try {
    return { result: await run(), statements };
  } finally {
    stop();
  }
}

function expectNoPlaintext(statements: { query: string; params: unknown[] }[], email: string) {
  const sent = JSON.stringify(statements).toLowerCase();
  expect(sent).not.toContain(email.toLowerCase());
  expect(sent).not.toMatch(/decrypt|pgp_|pgcrypto/);
}

describe("lookups by blind index", () => {
  it("logIn finds the user by email_bidx with a bound HMAC, case-insensitively", async () => {
    const email = tenant.members.VIEWER.email;
    const sentAs = email.toUpperCase();
    const { result, statements } = await capture(() => logIn(server.url, sentAs));
    expect(result.user.id).toBe(tenant.members.VIEWER.id);

    const lookup = statements.filter((s) => /"email_bidx" in \(\$1\)/.test(s.query));
    expect(lookup).toHaveLength(1);
    expect(lookup[0]!.query).toMatch(/from "users" where \("users"\."email_bidx" in \(\$1\)/);
    expect(lookup[0]!.params).toContain(server.app.services.blindIndex.email(email));
    expectNoPlaintext(statements, email);
  });

  it("a wrong email finds nobody and fails like a wrong password", async () => {
    const res = await gql(
      server.url,
      `mutation { logIn(email: "nobody.${Date.now()}@bidx.example", password: "whatever-password") { accessToken } }`,
    );
    expect(codesOf(res)).toEqual(["UNAUTHENTICATED"]);
  });

  it("customers(filter: { email }) matches by blind index within the tenant", async () => {
    const query = `query($e: String!) { customers(filter: { email: $e }) { totalCount nodes { name } } }`;
    const { result, statements } = await capture(() =>
      gql(
        server.url,
        query,
        { e: `  ${customerEmail.toUpperCase()} ` },
        { token: tenant.members.AGENT.token },
      ),
    );
    expect(dataOf(result).customers).toEqual({
      totalCount: 1,
      nodes: [{ name: "Blind Index Subject" }],
    });
    const lookup = statements.filter((s) => s.query.includes('"customers"."email_bidx" in ($'));
    expect(lookup.length).toBeGreaterThan(0);
    for (const s of lookup) {
      expect(s.query).toMatch(/"customers"\."org_id" = \$1/);
      expect(s.params).toContain(server.app.services.blindIndex.email(customerEmail));
    }
    expectNoPlaintext(statements, customerEmail);

    // another tenant's filter on the same email finds nothing
    const other = await createTenant(server.url, "bidx-other");
    const res = await gql(
      server.url,
      query,
      { e: customerEmail },
      { token: other.members.ADMIN.token },
    );
    expect(dataOf(res).customers).toEqual({ totalCount: 0, nodes: [] });
  });
});
