import { beforeAll, describe, expect, it } from "vitest";
import { createCustomer, createTenant, type Tenant } from "../support/fixtures.js";
import { dataOf, gql } from "../support/graphql.js";
import { sharedTestServer } from "../support/server.js";

/*
 * Every statement is built by Drizzle with bound parameters (ESLint refuses sql.raw and
 * .unsafe()): classic injection strings in every place a caller's text reaches SQL are data.
 */

const PAYLOADS = [
  "' OR '1'='1",
  "x'); DELETE FROM customers; --",
  "%' UNION SELECT email_enc FROM users --",
  "\\'; SELECT pg_sleep(5); --",
];

let url: string;
let tenant: Tenant;
let other: Tenant;

beforeAll(async () => {
  ({ url } = await sharedTestServer());
  [tenant, other] = await Promise.all([
    createTenant(url, "injection"),
    createTenant(url, "injection-other"),
  ]);
  await createCustomer(url, other.members.ADMIN.token, { name: "Someone else's customer" });
});

const customerNames = async (token: string, filter: Record<string, string> = {}) =>
  dataOf(
    await gql(
      url,
      `query($f: CustomerFilter) { customers(first: 100, filter: $f) { nodes { name } } }`,
      { f: filter },
      { token },
    ),
  ).customers.nodes.map((c: { name: string }) => c.name);

describe("SQL injection", () => {
  it("stores injection strings as names, exactly, and finds them only as text", async () => {
    const admin = tenant.members.ADMIN.token;
    for (const name of PAYLOADS) await createCustomer(url, admin, { name });
    expect((await customerNames(admin)).sort()).toEqual([...PAYLOADS].sort());
    for (const payload of PAYLOADS) {
      expect(await customerNames(admin, { nameContains: payload })).toEqual([payload]);
    }
    // nothing was deleted, and the other organization's rows never appeared
    expect(await customerNames(other.members.ADMIN.token)).toEqual(["Someone else's customer"]);
  });

  it("matches an injection string given as a login email or a customer email filter to nothing", async () => {
    for (const email of ["' OR '1'='1@x.io", "a@x.io' OR 1=1 --"]) {
      const login = await gql(
        url,
        `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }`,
        { e: email, p: "correct horse battery staple" },
      );
      expect(login.body.data?.logIn ?? null).toBeNull();
      expect(login.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    }
    const admin = tenant.members.ADMIN.token;
    expect(await customerNames(admin, { email: "' OR '1'='1@x.io" })).toEqual([]);
  });
});
