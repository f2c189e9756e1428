import { beforeAll, describe, expect, it } from "vitest";
import { createCustomer, createTenant, type Tenant } from "../support/fixtures.js";
import { codesOf, dataOf, gql } from "../support/graphql.js";
import { sharedTestServer } from "../support/server.js";

let url: string;
let acme: Tenant;
let globex: Tenant;
let acmeCustomer: { id: string };
let globexCustomer: { id: string };
let globexNoteId: string;

beforeAll(async () => {
  ({ url } = await sharedTestServer());
  [acme, globex] = await Promise.all([createTenant(url, "acme"), createTenant(url, "globex")]);
  acmeCustomer = await createCustomer(url, acme.members.ADMIN.token, { name: "Acme Customer" });
  globexCustomer = await createCustomer(url, globex.members.ADMIN.token, {
    name: "Globex Customer",
  });
  const note = await gql(
    url,
    `mutation($id: ID!) { addNote(customerId: $id, body: "globex only") { id } }`,
    { id: globexCustomer.id },
    { token: globex.members.AGENT.token },
  );
  globexNoteId = (dataOf(note).addNote as { id: string }).id;
});

describe("tenancy: an organization never sees or changes another's objects", () => {
  it("lists only the caller's own customers and users", async () => {
    const res = await gql(
      url,
      `{ customers(first: 100) { totalCount nodes { id name } }
         users(first: 100) { totalCount nodes { id } } organization { id name } }`,
      {},
      { token: acme.members.ADMIN.token },
    );
    const data = dataOf(res);
    expect(data.customers.nodes).toEqual([{ id: acmeCustomer.id, name: "Acme Customer" }]);
    expect(data.customers.totalCount).toBe(1);
    expect(data.users.totalCount).toBe(4);
    expect(data.users.nodes.map((u: { id: string }) => u.id).sort()).toEqual(
      Object.values(acme.members)
        .map((m) => m.id)
        .sort(),
    );
    expect(data.organization).toEqual({ id: acme.orgId, name: acme.name });
  });

  it("reads another organization's objects by id as null, exactly like missing ones", async () => {
    const res = await gql(
      url,
      `query($c: ID!, $u: ID!, $n: ID!, $o: ID!) {
        customer(id: $c) { id } user(id: $u) { id }
        cNode: node(id: $c) { id } uNode: node(id: $u) { id } nNode: node(id: $n) { id } oNode: node(id: $o) { id }
      }`,
      { c: globexCustomer.id, u: globex.members.ADMIN.id, n: globexNoteId, o: globex.orgId },
      { token: acme.members.ADMIN.token },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data).toEqual({
      customer: null,
      user: null,
      cNode: null,
      uNode: null,
      nNode: null,
      oNode: null,
    });
    // the legitimate owner reads the same ids
    const own = await gql(
      url,
      `query($c: ID!, $n: ID!) { customer(id: $c) { name } node(id: $n) { ... on Note { body } } }`,
      { c: globexCustomer.id, n: globexNoteId },
      { token: globex.members.ADMIN.token },
    );
    expect(dataOf(own)).toEqual({
      customer: { name: "Globex Customer" },
      node: { body: "globex only" },
    });
  });

  it("refuses mutations on another organization's ids with NOT_FOUND and changes nothing", async () => {
    const token = acme.members.ADMIN.token;
    const attempts = [
      [
        `mutation($id: ID!) { updateCustomer(id: $id, input: { name: "pwned" }) { id } }`,
        { id: globexCustomer.id },
      ],
      [`mutation($id: ID!) { deleteCustomer(id: $id) }`, { id: globexCustomer.id }],
      [
        `mutation($id: ID!) { addNote(customerId: $id, body: "x") { id } }`,
        { id: globexCustomer.id },
      ],
      [
        `mutation($id: ID!) { setUserRole(id: $id, role: VIEWER) { id } }`,
        { id: globex.members.AGENT.id },
      ],
    ] as const;
    for (const [mutation, variables] of attempts) {
      const res = await gql(url, mutation, variables, { token });
      expect(codesOf(res), mutation).toEqual(["NOT_FOUND"]);
    }
    const check = await gql(
      url,
      `query($id: ID!, $u: ID!) { customer(id: $id) { name notes { totalCount } } user(id: $u) { role } }`,
      { id: globexCustomer.id, u: globex.members.AGENT.id },
      { token: globex.members.ADMIN.token },
    );
    expect(dataOf(check)).toEqual({
      customer: { name: "Globex Customer", notes: { totalCount: 1 } },
      user: { role: "AGENT" },
    });
  });

  it("lists only the organization's own API clients and audit events", async () => {
    const create = `mutation($name: String!) {
      createApiClient(input: { name: $name, scopes: [CUSTOMERS_READ] }) { client { id name scopes } clientSecret }
    }`;
    const mine = dataOf(
      await gql(url, create, { name: "acme partner" }, { token: acme.members.ADMIN.token }),
    );
    dataOf(
      await gql(url, create, { name: "globex partner" }, { token: globex.members.ADMIN.token }),
    );
    expect(mine.createApiClient.client).toMatchObject({
      name: "acme partner",
      scopes: ["CUSTOMERS_READ"],
    });
    const res = await gql(
      url,
      `{ apiClients { name } auditEvents(first: 100) { nodes { id actorId } } }`,
      {},
      { token: acme.members.ADMIN.token },
    );
    const data = dataOf(res);
    expect(data.apiClients).toEqual([{ name: "acme partner" }]);
    const acmeActors = new Set(Object.values(acme.members).map((m) => m.id));
    for (const event of data.auditEvents.nodes as { actorId: string | null }[]) {
      if (event.actorId) expect(acmeActors.has(event.actorId)).toBe(true);
    }
  });

  it("finds customers by email only within the organization", async () => {
    const email = "shared.person@test.example";
    await createCustomer(url, acme.members.ADMIN.token, { name: "A copy", email });
    await createCustomer(url, globex.members.ADMIN.token, { name: "G copy", email });
    const res = await gql(
      url,
      `query($email: String!) { customers(filter: { email: $email }) { nodes { name email } } }`,
      { email: "  Shared.Person@TEST.example " },
      { token: acme.members.ADMIN.token },
    );
    expect(dataOf(res).customers.nodes).toEqual([{ name: "A copy", email }]);
  });
});
