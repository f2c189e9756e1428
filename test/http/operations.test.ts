import { beforeAll, describe, expect, it } from "vitest";
import {
  createCustomer,
  createTenant,
  logIn,
  PASSWORD,
  type Tenant,
  uniqueEmail,
} from "../support/fixtures.js";
import { codesOf, dataOf, gql, type GraphQLResponse } from "../support/graphql.js";
import { sharedTestServer } from "../support/server.js";

let url: string;
let tenant: Tenant;
let admin: string;
let agent: string;

beforeAll(async () => {
  ({ url } = await sharedTestServer());
  tenant = await createTenant(url, "ops");
  admin = tenant.members.ADMIN.token;
  agent = tenant.members.AGENT.token;
});

describe("accounts", () => {
  it("signUp creates an organization with its first ADMIN, signed in", async () => {
    const email = uniqueEmail("founder");
    const res = await gql(
      url,
      `mutation($input: SignUpInput!) {
        signUp(input: $input) { accessToken refreshToken expiresIn user { displayName role email } }
      }`,
      { input: { organizationName: "New Co", displayName: "Founder", email, password: PASSWORD } },
    );
    const { signUp } = dataOf(res);
    expect(signUp.user).toEqual({ displayName: "Founder", role: "ADMIN", email });
    expect(signUp.expiresIn).toBe(900);
    const org = dataOf(
      await gql(url, `{ organization { name } me { email } }`, {}, { token: signUp.accessToken }),
    );
    expect(org).toEqual({ organization: { name: "New Co" }, me: { email } });
  });

  it("logIn checks the password and records lastLoginAt; a wrong one is UNAUTHENTICATED", async () => {
    const wrong = await gql(
      url,
      `mutation($e: String!) { logIn(email: $e, password: "definitely-not-it") { accessToken } }`,
      { e: tenant.members.VIEWER.email },
    );
    expect(wrong.status).toBe(200);
    expect(codesOf(wrong)).toEqual(["UNAUTHENTICATED"]);
    expect(wrong.body.data).toBeNull();
    const session = await logIn(url, tenant.members.VIEWER.email);
    const me = dataOf(await gql(url, `{ me { lastLoginAt } }`, {}, { token: session.accessToken }));
    expect(Date.parse(me.me.lastLoginAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("refuses a duplicate email, case-insensitively, and writes nothing", async () => {
    const res = await gql(
      url,
      `mutation($input: CreateUserInput!) { createUser(input: $input) { id } }`,
      {
        input: {
          displayName: "Dup",
          email: tenant.members.AGENT.email.toUpperCase(),
          password: PASSWORD,
          role: "VIEWER",
        },
      },
      { token: admin },
    );
    expect(res.body.errors?.[0]?.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.email",
    });
    const users = dataOf(await gql(url, `{ users { totalCount } }`, {}, { token: admin }));
    expect(users.users.totalCount).toBe(4);
  });

  it("updateMe changes the caller's own profile, and null clears the phone", async () => {
    const token = tenant.members.AUDITOR.token;
    const set = await gql(
      url,
      `mutation { updateMe(input: { displayName: "Audrey", phone: "+442071234567" }) { displayName phone } }`,
      {},
      { token },
    );
    expect(dataOf(set).updateMe).toEqual({ displayName: "Audrey", phone: "+442071234567" });
    const cleared = await gql(
      url,
      `mutation { updateMe(input: { phone: null }) { displayName phone } }`,
      {},
      { token },
    );
    expect(dataOf(cleared).updateMe).toEqual({ displayName: "Audrey", phone: null });
  });

  it("setUserRole changes a role but never removes the last ADMIN", async () => {
    const promoted = await gql(
      url,
      `mutation($id: ID!) { setUserRole(id: $id, role: ADMIN) { role } }`,
      { id: tenant.members.VIEWER.id },
      { token: admin },
    );
    expect(dataOf(promoted).setUserRole).toEqual({ role: "ADMIN" });
    const back = await gql(
      url,
      `mutation($id: ID!) { setUserRole(id: $id, role: VIEWER) { role } }`,
      { id: tenant.members.VIEWER.id },
      { token: admin },
    );
    expect(dataOf(back).setUserRole).toEqual({ role: "VIEWER" });
    const last = await gql(
      url,
      `mutation($id: ID!) { setUserRole(id: $id, role: AGENT) { role } }`,
      { id: tenant.members.ADMIN.id },
      { token: admin },
    );
    expect(last.body.errors?.[0]?.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "role",
    });
    const me = dataOf(await gql(url, `{ me { role } }`, {}, { token: admin }));
    expect(me.me.role).toBe("ADMIN");
  });
});

describe("customers and notes", () => {
  it("create, read, update and delete a customer with personal data", async () => {
    const created = await gql(
      url,
      `mutation($input: CustomerInput!) {
        createCustomer(input: $input) { id name email phone dateOfBirth taxId taxIdLast4 createdBy { id } createdAt updatedAt }
      }`,
      {
        input: {
          name: "Zoë O'Brien <b>",
          email: "zoe@example.com",
          phone: "+353861234567",
          dateOfBirth: "1990-02-28",
          taxId: "IE-1234567T",
        },
      },
      { token: admin },
    );
    const customer = dataOf(created).createCustomer;
    expect(customer).toMatchObject({
      name: "Zoë O'Brien <b>", // stored exactly as sent
      email: "zoe@example.com",
      phone: "+353861234567",
      dateOfBirth: "1990-02-28",
      taxId: "IE-1234567T",
      taxIdLast4: "567T",
      createdBy: { id: tenant.members.ADMIN.id },
    });

    const updated = await gql(
      url,
      `mutation($id: ID!) { updateCustomer(id: $id, input: { phone: null, taxId: "IE-7654321X" }) { name phone taxIdLast4 email updatedAt } }`,
      { id: customer.id },
      { token: admin },
    );
    expect(dataOf(updated).updateCustomer).toMatchObject({
      name: "Zoë O'Brien <b>",
      phone: null,
      taxIdLast4: "321X",
      email: "zoe@example.com",
    });
    expect(Date.parse(dataOf(updated).updateCustomer.updatedAt)).toBeGreaterThanOrEqual(
      Date.parse(customer.updatedAt),
    );

    const deleted = await gql(
      url,
      `mutation($id: ID!) { deleteCustomer(id: $id) }`,
      { id: customer.id },
      { token: admin },
    );
    expect(dataOf(deleted).deleteCustomer).toBe(true);
    const gone = await gql(
      url,
      `query($id: ID!) { customer(id: $id) { id } }`,
      { id: customer.id },
      { token: admin },
    );
    expect(dataOf(gone).customer).toBeNull();
    const again = await gql(
      url,
      `mutation($id: ID!) { deleteCustomer(id: $id) }`,
      { id: customer.id },
      { token: admin },
    );
    expect(codesOf(again)).toEqual(["NOT_FOUND"]);
  });

  it("pages through customers with opaque cursors and a stable totalCount", async () => {
    const own = await createTenant(url, "paging");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await createCustomer(url, own.members.ADMIN.token, { name: `P${i}` })).id);
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 3; page++) {
      const res: GraphQLResponse<any> = await gql(
        url,
        `query($after: String) { customers(first: 2, after: $after) {
          totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`,
        { after },
        { token: own.members.ADMIN.token },
      );
      const conn: any = dataOf(res).customers;
      expect(conn.totalCount).toBe(5);
      seen.push(...conn.edges.map((e: { node: { id: string } }) => e.node.id));
      expect(conn.pageInfo.endCursor).toBe(conn.edges.at(-1).cursor);
      expect(conn.pageInfo.hasNextPage).toBe(page < 2);
      after = conn.pageInfo.endCursor;
    }
    expect(seen).toEqual(ids);
  });

  it("filters by a case-insensitive name substring, with LIKE wildcards taken literally", async () => {
    const own = await createTenant(url, "search");
    await createCustomer(url, own.members.ADMIN.token, { name: "Percy 100% Sure" });
    await createCustomer(url, own.members.ADMIN.token, { name: "Percival" });
    const search = async (nameContains: string) =>
      dataOf(
        await gql(
          url,
          `query($n: String!) { customers(filter: { nameContains: $n }) { nodes { name } } }`,
          { n: nameContains },
          { token: own.members.ADMIN.token },
        ),
      ).customers.nodes.map((c: { name: string }) => c.name);
    expect(await search("perc")).toEqual(["Percy 100% Sure", "Percival"]);
    expect(await search("0%")).toEqual(["Percy 100% Sure"]);
    expect(await search("%")).toEqual(["Percy 100% Sure"]);
    expect(await search("_")).toEqual([]);
  });

  it("adds notes, public and private, and lists them under the customer", async () => {
    const customer = await createCustomer(url, agent);
    for (const [body, isPrivate] of [
      ["first call\n\twent well", false],
      ["private remark", true],
    ] as const) {
      const res = await gql(
        url,
        `mutation($c: ID!, $b: String!, $p: Boolean) { addNote(customerId: $c, body: $b, private: $p) { body private author { id } customer { id } } }`,
        { c: customer.id, b: body, p: isPrivate },
        { token: agent },
      );
      expect(dataOf(res).addNote).toEqual({
        body,
        private: isPrivate,
        author: { id: tenant.members.AGENT.id },
        customer: { id: customer.id },
      });
    }
    const list = await gql(
      url,
      `query($id: ID!) { customer(id: $id) { notes(first: 10) { totalCount nodes { body private } } } }`,
      { id: customer.id },
      { token: agent },
    );
    expect(dataOf(list).customer.notes).toEqual({
      totalCount: 2,
      nodes: [
        { body: "first call\n\twent well", private: false },
        { body: "private remark", private: true },
      ],
    });
    // the private note is the author's and the ADMIN's only; a page after a cursor keeps to that
    const bodies = async (token: string, after: string | null) =>
      dataOf(
        await gql(
          url,
          `query($id: ID!, $after: String) { customer(id: $id) {
            notes(first: 1, after: $after) { nodes { body } pageInfo { endCursor } } } }`,
          { id: customer.id, after },
          { token },
        ),
      ).customer.notes as { nodes: { body: string }[]; pageInfo: { endCursor: string } };
    for (const [role, expected] of [
      ["AGENT", ["first call\n\twent well", "private remark"]],
      ["ADMIN", ["first call\n\twent well", "private remark"]],
      ["VIEWER", ["first call\n\twent well"]],
    ] as const) {
      const token = tenant.members[role].token;
      const first = await bodies(token, null);
      const second = await bodies(token, first.pageInfo.endCursor);
      expect(
        [...first.nodes, ...second.nodes].map((n) => n.body),
        role,
      ).toEqual(expected);
    }
  });
});

describe("input validation: BAD_USER_INPUT naming the field, and nothing written", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["empty name", { name: "" }, "input.name"],
    ["name of 201 characters", { name: "x".repeat(201) }, "input.name"],
    ["control character in name", { name: "bad\u0007name" }, "input.name"],
    ["newline in name", { name: "two\nlines" }, "input.name"],
    ["invalid email", { name: "ok", email: "not-an-email" }, "input.email"],
    ["email over 254", { name: "ok", email: `${"a".repeat(250)}@x.io` }, "input.email"],
    ["phone not E.164", { name: "ok", phone: "555-1234" }, "input.phone"],
    ["date of birth in the future", { name: "ok", dateOfBirth: "2999-01-01" }, "input.dateOfBirth"],
    ["date of birth before 1900", { name: "ok", dateOfBirth: "1899-12-31" }, "input.dateOfBirth"],
  ];
  it.each(cases)("createCustomer refuses %s", async (_label, input, field) => {
    const own = await createTenantOnce();
    const res = await gql(
      url,
      `mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }`,
      { input },
      { token: own.members.ADMIN.token },
    );
    expect(res.status).toBe(200);
    expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
    const refused = String(Object.values(input).at(-1));
    if (refused.length >= 4) expect(JSON.stringify(res.body)).not.toContain(refused); // never echoed
    const count = dataOf(
      await gql(url, `{ customers { totalCount } }`, {}, { token: own.members.ADMIN.token }),
    );
    expect(count.customers.totalCount).toBe(0);
  });

  it("refuses a malformed LocalDate as BAD_USER_INPUT (200), not a server error", async () => {
    const res = await gql(
      url,
      `mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }`,
      { input: { name: "ok", dateOfBirth: "1990-02-30" } },
      { token: admin },
    );
    expect(res.status).toBe(200);
    expect(codesOf(res)).toEqual(["BAD_USER_INPUT"]);
  });

  it("refuses a note body over 10,000 characters or with control characters", async () => {
    const customer = await createCustomer(url, agent);
    for (const body of ["x".repeat(10_001), "bell\u0007", "", "half a pair \ud83d"]) {
      const res = await gql(
        url,
        `mutation($c: ID!, $b: String!) { addNote(customerId: $c, body: $b) { id } }`,
        { c: customer.id, b: body },
        { token: agent },
      );
      expect(res.body.errors?.[0]?.extensions).toMatchObject({
        code: "BAD_USER_INPUT",
        field: "body",
      });
    }
    const notes = await gql(
      url,
      `query($id: ID!) { customer(id: $id) { notes { totalCount } } }`,
      { id: customer.id },
      { token: agent },
    );
    expect(dataOf(notes).customer.notes.totalCount).toBe(0);
  });

  it("stores text exactly as sent, astral characters included; half a surrogate pair is refused", async () => {
    const exact = "Zoë 🦊 \u{1F600} Ünïcödé";
    const created = await createCustomer(url, agent, { name: exact });
    const read = await gql(
      url,
      `query($id: ID!) { customer(id: $id) { name } }`,
      { id: created.id },
      {
        token: agent,
      },
    );
    expect(dataOf(read).customer.name).toBe(exact);
    const res = await gql(
      url,
      `mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }`,
      { input: { name: "LS\ud800end" } },
      { token: agent },
    );
    expect(res.body.errors?.[0]?.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.name",
    });
  });

  it("refuses passwords shorter than 12 or longer than 72 bytes", async () => {
    for (const password of ["short", "ü".repeat(37)]) {
      const res = await gql(
        url,
        `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`,
        { input: { organizationName: "X", displayName: "X", email: uniqueEmail("pw"), password } },
      );
      expect(res.body.errors?.[0]?.extensions).toMatchObject({
        code: "BAD_USER_INPUT",
        field: "input.password",
      });
    }
  });

  it("refuses page sizes outside 1..100 and malformed cursors", async () => {
    for (const [args, field] of [
      ["first: 0", "first"],
      ["first: 101", "first"],
      ["first: 100000", "first"],
      ['after: "garbage"', "after"],
    ]) {
      const res = await gql(url, `{ customers(${args}) { totalCount } }`, {}, { token: admin });
      expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
    }
  });
});

let validationTenant: Promise<Tenant> | undefined;
function createTenantOnce(): Promise<Tenant> {
  validationTenant ??= createTenant(url, "validation");
  return validationTenant;
}
