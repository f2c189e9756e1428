import { beforeAll, describe, expect, it } from "vitest";
import {
  allows,
  ANONYMOUS_CALLER,
  denialOf,
  type Caller,
  callersOf,
  SETUP_TIMEOUT_MS,
} from "../support/access-matrix.js";
import { createApiClient, type PartnerClient } from "../support/api-clients.js";
import { ensureAuditEvent } from "../support/audit-events.js";
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

/*
 * The rules on top of the field matrix: node(id) under its type's rule, denials through
 * fragments, aliases and nested paths, private notes, tenancy through every entry point, the
 * last-ADMIN guard, and role changes and revocations taking effect on the next request.
 */

let url: string;
let acme: Tenant;
let globex: Tenant;
let customerId: string;
let noteId: string;
let privateNoteId: string;
let auditEventId: string;
let partner: PartnerClient;
const CUSTOMER = {
  name: "Ada Lovelace",
  email: "ada@test.example",
  phone: "+14155550123",
  dateOfBirth: "1985-12-10",
  taxId: "123-45-6789",
};

const errorsOf = (res: GraphQLResponse) =>
  (res.body.errors ?? []).map((e) => ({ path: e.path, code: e.extensions?.code }));
const forbiddenAt = (...paths: (string | number)[][]) =>
  paths.map((path) => ({ path, code: "FORBIDDEN" }));
/** The refusals of these fields to this caller (UNAUTHENTICATED when it is anonymous). */
const deniedAt = (caller: Caller, ...paths: (string | number)[][]) =>
  paths.map((path) => ({ path, code: denialOf(caller).code }));

/** A field's description as an ADMIN's introspection reads it. */
async function introspectedDescription(type: string, field: string) {
  const res = await gql(
    url,
    `query($t: String!) { __type(name: $t) { fields { name description } } }`,
    { t: type },
    { token: acme.members.ADMIN.token },
  );
  const fields = (dataOf(res).__type as { fields: { name: string; description: string }[] }).fields;
  return fields.find((f) => f.name === field)?.description;
}

async function addNote(tenant: Tenant, customer: string, body: string, isPrivate = false) {
  const res = await gql(
    url,
    `mutation($c: ID!, $b: String!, $p: Boolean) { addNote(customerId: $c, body: $b, private: $p) { id } }`,
    { c: customer, b: body, p: isPrivate },
    { token: tenant.members.AGENT.token },
  );
  return (dataOf(res).addNote as { id: string }).id;
}

beforeAll(async () => {
  ({ url } = await sharedTestServer());
  [acme, globex] = await Promise.all([createTenant(url, "acme"), createTenant(url, "globex")]);
  customerId = (await createCustomer(url, acme.members.ADMIN.token, CUSTOMER)).id;
  noteId = await addNote(acme, customerId, "public note");
  privateNoteId = await addNote(acme, customerId, "private note", true);
  await ensureAuditEvent(url, acme.members.ADMIN.token, acme);
  const events = dataOf(
    await gql(
      url,
      `{ auditEvents(first: 1) { nodes { id } } }`,
      {},
      {
        token: acme.members.ADMIN.token,
      },
    ),
  );
  auditEventId = (events.auditEvents as { nodes: { id: string }[] }).nodes[0]!.id;
  partner = await createApiClient(url, acme.members.ADMIN.token, [
    "customers:read",
    "customers:write",
    "customers:pii",
    "users:read",
    "audit:read",
  ]);
}, SETUP_TIMEOUT_MS);

describe("node(id) applies the rules of the typed field for that object", () => {
  const entryOf = {
    Organization: "Query.organization",
    User: "Query.user",
    Customer: "Query.customer",
    Note: "Customer.notes",
    AuditEvent: "Query.auditEvents",
    ApiClient: "Query.apiClients",
  } as const;

  it(
    "serves each type only to the principals its typed field serves",
    async () => {
      const callers: Caller[] = [...(await callersOf(url, acme)), ANONYMOUS_CALLER];
      const ids: Record<keyof typeof entryOf, string> = {
        Organization: acme.orgId,
        User: acme.members.ADMIN.id,
        Customer: customerId,
        Note: noteId,
        AuditEvent: auditEventId,
        ApiClient: partner.id,
      };
      await Promise.all(
        callers.flatMap((caller) =>
          Object.entries(entryOf).map(async ([type, entry]) => {
            const res = await gql(
              url,
              `query($id: ID!) { node(id: $id) { __typename ... on Node { id } } }`,
              { id: ids[type as keyof typeof entryOf] },
              { token: caller.token },
            );
            const label = `node(${type}) as ${caller.name}`;
            if (allows(caller, entry, false)) {
              expect(res.body.errors, label).toBeUndefined();
              expect(res.body.data, label).toEqual({
                node: { __typename: type, id: ids[type as keyof typeof entryOf] },
              });
            } else {
              expect(errorsOf(res), label).toEqual(deniedAt(caller, ["node"]));
              expect(res.body.data, label).toEqual({ node: null });
            }
          }),
        ),
      );
    },
    SETUP_TIMEOUT_MS,
  );

  it("denies protected fields in inline fragments on node, field by field", async () => {
    const query = `query($id: ID!) { node(id: $id) { ... on Customer { name email taxId } } }`;
    const viewer = await gql(url, query, { id: customerId }, { token: acme.members.VIEWER.token });
    expect(errorsOf(viewer)).toEqual(forbiddenAt(["node", "email"], ["node", "taxId"]));
    expect(viewer.body.data).toEqual({ node: { name: CUSTOMER.name, email: null, taxId: null } });
    const agent = await gql(url, query, { id: customerId }, { token: acme.members.AGENT.token });
    expect(errorsOf(agent)).toEqual(forbiddenAt(["node", "taxId"]));
    expect(agent.body.data).toEqual({
      node: { name: CUSTOMER.name, email: CUSTOMER.email, taxId: null },
    });
  });

  it("gives a private note only to its author and ADMINs, as if it did not exist", async () => {
    const query = `query($id: ID!) { node(id: $id) { ... on Note { body } } }`;
    for (const role of ["ADMIN", "AGENT"] as const) {
      const res = await gql(url, query, { id: privateNoteId }, { token: acme.members[role].token });
      expect(dataOf(res), role).toEqual({ node: { body: "private note" } });
    }
    const viewer = await gql(
      url,
      query,
      { id: privateNoteId },
      {
        token: acme.members.VIEWER.token,
      },
    );
    expect(viewer.body.errors).toBeUndefined();
    expect(viewer.body.data).toEqual({ node: null });
  });
});

describe("denials through fragments, aliases and nested paths", () => {
  it("nulls each denied field at its own path; siblings still resolve", async () => {
    const res = await gql(
      url,
      `query($c: ID!) {
        first: customer(id: $c) { ...Pii }
        second: customer(id: $c) { name secret: taxId createdBy { displayName email } }
        me { email }
      }
      fragment Pii on Customer { email taxId }`,
      { c: customerId },
      { token: acme.members.AGENT.token },
    );
    expect(errorsOf(res)).toEqual(
      forbiddenAt(["first", "taxId"], ["second", "secret"], ["second", "createdBy", "email"]),
    );
    expect(res.body.errors!.every((e) => e.message === "Not authorized")).toBe(true);
    expect(res.body.data).toEqual({
      first: { email: CUSTOMER.email, taxId: null },
      second: {
        name: CUSTOMER.name,
        secret: null,
        createdBy: { displayName: "Admin", email: null },
      },
      me: { email: acme.members.AGENT.email },
    });
  });

  it("serves the real values to those allowed", async () => {
    const query = `query($c: ID!) { customer(id: $c) { email phone dateOfBirth taxIdLast4 taxId } }`;
    const admin = await gql(url, query, { c: customerId }, { token: acme.members.ADMIN.token });
    expect(dataOf(admin).customer).toEqual({
      email: CUSTOMER.email,
      phone: CUSTOMER.phone,
      dateOfBirth: CUSTOMER.dateOfBirth,
      taxIdLast4: "6789",
      taxId: CUSTOMER.taxId,
    });
    const client = await gql(url, query, { c: customerId }, { token: partner.token });
    expect(errorsOf(client)).toEqual(forbiddenAt(["customer", "taxId"]));
    expect(client.body.data?.customer).toMatchObject({ email: CUSTOMER.email, taxIdLast4: "6789" });
  });

  it("never runs a denied mutation's resolver: no validation, no lookup", async () => {
    const viewer = await gql(
      url,
      `mutation { createCustomer(input: { name: "" }) { id } }`,
      {},
      { token: acme.members.VIEWER.token },
    );
    expect(codesOf(viewer)).toEqual(["FORBIDDEN"]); // not BAD_USER_INPUT
    const agent = await gql(
      url,
      `mutation { deleteCustomer(id: "no-such-id") }`,
      {},
      { token: acme.members.AGENT.token },
    );
    expect(codesOf(agent)).toEqual(["FORBIDDEN"]); // not NOT_FOUND
  });

  it("leaves __typename and introspection to anyone shield is concerned with", async () => {
    expect(dataOf(await gql(url, `{ __typename }`))).toEqual({ __typename: "Query" });
    expect(await introspectedDescription("Customer", "email")).toBe(
      "Requires: ADMIN, AGENT, or scope customers:pii.",
    );
  });
});

describe("the customer email filter needs the grant of Customer.email", () => {
  // Matching on an email is reading it: without this rule a VIEWER could confirm guesses.
  const byEmail = `query($e: String) { customers(filter: { email: $e }) { totalCount nodes { name } } }`;
  const byName = `{ customers(filter: { nameContains: "lovelace", email: null }) { nodes { name } } }`;

  it(
    "answers exactly those who may read Customer.email; the rest get FORBIDDEN whatever the guess",
    async () => {
      const callers: Caller[] = [...(await callersOf(url, acme)), ANONYMOUS_CALLER];
      for (const caller of callers) {
        const options = caller.token ? { token: caller.token } : {};
        const right = await gql(url, byEmail, { e: CUSTOMER.email.toUpperCase() }, options);
        const wrong = await gql(url, byEmail, { e: "nobody@test.example" }, options);
        const mayList = allows(caller, "Query.customers", false);
        if (mayList && allows(caller, "Customer.email", false)) {
          expect(dataOf(right).customers, caller.name).toEqual({
            totalCount: 1,
            nodes: [{ name: CUSTOMER.name }],
          });
          expect(dataOf(wrong).customers, caller.name).toEqual({ totalCount: 0, nodes: [] });
        } else {
          expect(errorsOf(right), caller.name).toEqual(deniedAt(caller, ["customers"]));
          // a right guess and a wrong one get the same answer
          expect(errorsOf(wrong), caller.name).toEqual(deniedAt(caller, ["customers"]));
          expect(right.body.data, caller.name).toEqual({ customers: null });
          expect(wrong.body.data, caller.name).toEqual({ customers: null });
          const messages = [...right.body.errors!, ...wrong.body.errors!].map((e) => e.message);
          expect(new Set(messages), caller.name).toEqual(new Set([denialOf(caller).message]));
        }
        // without the email filter, whoever may list customers still searches them
        const named = await gql(url, byName, {}, options);
        if (mayList) {
          expect(dataOf(named).customers, caller.name).toEqual({
            nodes: [{ name: CUSTOMER.name }],
          });
        } else {
          expect(errorsOf(named), caller.name).toEqual(deniedAt(caller, ["customers"]));
        }
      }
    },
    SETUP_TIMEOUT_MS,
  );

  it("states the rule in the introspected description of Query.customers", async () => {
    expect(await introspectedDescription("Query", "customers")).toContain(
      "Argument filter.email requires: ADMIN, AGENT, or scope customers:pii.",
    );
  });
});

describe("private notes", () => {
  it("are listed and counted only for their author and ADMINs", async () => {
    const secondAgentEmail = uniqueEmail("agent2");
    dataOf(
      await gql(
        url,
        `mutation($input: CreateUserInput!) { createUser(input: $input) { id } }`,
        {
          input: {
            displayName: "Agent 2",
            email: secondAgentEmail,
            password: PASSWORD,
            role: "AGENT",
          },
        },
        { token: acme.members.ADMIN.token },
      ),
    );
    const secondAgent = await logIn(url, secondAgentEmail);
    const query = `query($c: ID!) { customer(id: $c) {
      notes(first: 1) { totalCount pageInfo { hasNextPage } nodes { body private } } } }`;
    const read = async (token: string) =>
      (
        dataOf(await gql(url, query, { c: customerId }, { token })).customer as {
          notes: { totalCount: number; pageInfo: { hasNextPage: boolean } };
        }
      ).notes;
    for (const token of [acme.members.ADMIN.token, acme.members.AGENT.token]) {
      expect(await read(token)).toMatchObject({ totalCount: 2, pageInfo: { hasNextPage: true } });
    }
    for (const token of [acme.members.VIEWER.token, secondAgent.accessToken]) {
      expect(await read(token)).toEqual({
        totalCount: 1,
        pageInfo: { hasNextPage: false },
        nodes: [{ body: "public note", private: false }],
      });
    }
  });
});

describe("tenancy through every entry point", () => {
  let globexCustomer: string;
  let globexNote: string;
  let globexClient: PartnerClient;
  let globexEvent: string;

  beforeAll(async () => {
    globexCustomer = (await createCustomer(url, globex.members.ADMIN.token)).id;
    globexNote = await addNote(globex, globexCustomer, "globex note");
    globexClient = await createApiClient(url, globex.members.ADMIN.token, ["audit:read"]);
    await ensureAuditEvent(url, globex.members.ADMIN.token, globex);
    const events = dataOf(
      await gql(
        url,
        `{ auditEvents(first: 1) { nodes { id } } }`,
        {},
        {
          token: globex.members.ADMIN.token,
        },
      ),
    );
    globexEvent = (events.auditEvents as { nodes: { id: string }[] }).nodes[0]!.id;
  }, SETUP_TIMEOUT_MS);

  it("reads another organization's objects as missing, for users and API clients", async () => {
    const ids = [
      globex.orgId,
      globex.members.AGENT.id,
      globexCustomer,
      globexNote,
      globexEvent,
      globexClient.id,
    ];
    for (const token of [acme.members.ADMIN.token, partner.token]) {
      const res = await gql(
        url,
        `query($c: ID!, $u: ID!) {
          a: node(id: $c) { id } customer(id: $c) { id } user(id: $u) { id }
          customers(first: 100) { nodes { id } } users(first: 100) { nodes { id } }
          auditEvents(first: 100) { nodes { id } }
        }`,
        { c: globexCustomer, u: globex.members.AGENT.id },
        { token },
      );
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data).toMatchObject({ a: null, customer: null, user: null });
      const served = JSON.stringify(res.body.data);
      for (const id of ids) expect(served).not.toContain(id);
      for (const id of ids) {
        const one = await gql(url, `query($id: ID!) { node(id: $id) { id } }`, { id }, { token });
        // An API client may read no Note or ApiClient at all: that is decided by the type in the
        // id, alike for its own organization's objects, so it reveals nothing about this one.
        const deniedType = token === partner.token && (id === globexNote || id === globexClient.id);
        if (deniedType) expect(codesOf(one)).toEqual(["FORBIDDEN"]);
        else {
          expect(one.body.errors).toBeUndefined();
          expect(one.body.data).toEqual({ node: null });
        }
      }
    }
    for (const id of [noteId, partner.id]) {
      const own = await gql(
        url,
        `query($id: ID!) { node(id: $id) { id } }`,
        { id },
        {
          token: partner.token,
        },
      );
      expect(codesOf(own)).toEqual(["FORBIDDEN"]);
    }
    const admin = await gql(url, `{ apiClients { id } }`, {}, { token: acme.members.ADMIN.token });
    expect(JSON.stringify(dataOf(admin))).not.toContain(globexClient.id);
  });

  it("refuses mutations on another organization's ids with NOT_FOUND and changes nothing", async () => {
    const attempts: [string, Record<string, unknown>, string][] = [
      [
        `mutation($id: ID!) { updateCustomer(id: $id, input: { name: "x" }) { id } }`,
        { id: globexCustomer },
        acme.members.ADMIN.token,
      ],
      [
        `mutation($id: ID!) { updateCustomer(id: $id, input: { name: "x" }) { id } }`,
        { id: globexCustomer },
        partner.token,
      ],
      [
        `mutation($id: ID!) { deleteCustomer(id: $id) }`,
        { id: globexCustomer },
        acme.members.ADMIN.token,
      ],
      [
        `mutation($id: ID!) { addNote(customerId: $id, body: "x") { id } }`,
        { id: globexCustomer },
        acme.members.AGENT.token,
      ],
      [
        `mutation($id: ID!) { setUserRole(id: $id, role: ADMIN) { id } }`,
        { id: globex.members.VIEWER.id },
        acme.members.ADMIN.token,
      ],
      [
        `mutation($id: ID!) { revokeApiClient(id: $id) { id } }`,
        { id: globexClient.id },
        acme.members.ADMIN.token,
      ],
    ];
    for (const [mutation, variables, token] of attempts) {
      expect(codesOf(await gql(url, mutation, variables, { token })), mutation).toEqual([
        "NOT_FOUND",
      ]);
    }
    const check = await gql(
      url,
      `query($c: ID!, $u: ID!) { customer(id: $c) { name notes { totalCount } } user(id: $u) { role }
        apiClients { id revokedAt } }`,
      { c: globexCustomer, u: globex.members.VIEWER.id },
      { token: globex.members.ADMIN.token },
    );
    const data = dataOf(check);
    expect(data.customer).toMatchObject({ notes: { totalCount: 1 } });
    expect(data.customer.name).not.toBe("x");
    expect(data.user).toEqual({ role: "VIEWER" });
    expect(data.apiClients).toEqual([{ id: globexClient.id, revokedAt: null }]);
  });
});

describe("the principal is re-read on every request", () => {
  it("keeps the last ADMIN (BAD_USER_INPUT) and allows a demotion once another exists", async () => {
    const org = await createTenant(url, "lastadmin");
    const { ADMIN, AGENT } = org.members;
    const demote = (id: string, token: string) =>
      gql(
        url,
        `mutation($id: ID!) { setUserRole(id: $id, role: VIEWER) { role } }`,
        { id },
        { token },
      );
    const refused = await demote(ADMIN.id, ADMIN.token);
    expect(codesOf(refused)).toEqual(["BAD_USER_INPUT"]);
    expect(dataOf(await gql(url, `{ me { role } }`, {}, { token: ADMIN.token }))).toEqual({
      me: { role: "ADMIN" },
    });
    dataOf(
      await gql(
        url,
        `mutation($id: ID!) { setUserRole(id: $id, role: ADMIN) { role } }`,
        { id: AGENT.id },
        {
          token: ADMIN.token,
        },
      ),
    );
    expect(dataOf(await demote(ADMIN.id, ADMIN.token))).toEqual({
      setUserRole: { role: "VIEWER" },
    });
    // the former ADMIN's very next request is a VIEWER's
    expect(codesOf(await demote(AGENT.id, ADMIN.token))).toEqual(["FORBIDDEN"]);
    expect(codesOf(await demote(AGENT.id, AGENT.token))).toEqual(["BAD_USER_INPUT"]);
  });

  it("applies a role change on the old token's next request", async () => {
    const org = await createTenant(url, "rolechange");
    const customer = await createCustomer(url, org.members.ADMIN.token, CUSTOMER);
    const read = () =>
      gql(
        url,
        `query($c: ID!) { me { role } customer(id: $c) { name email } }`,
        { c: customer.id },
        {
          token: org.members.AGENT.token,
        },
      );
    expect(dataOf(await read())).toEqual({
      me: { role: "AGENT" },
      customer: { name: CUSTOMER.name, email: CUSTOMER.email },
    });
    dataOf(
      await gql(
        url,
        `mutation($id: ID!) { setUserRole(id: $id, role: VIEWER) { id } }`,
        { id: org.members.AGENT.id },
        {
          token: org.members.ADMIN.token,
        },
      ),
    );
    const after = await read();
    expect(errorsOf(after)).toEqual(forbiddenAt(["customer", "email"]));
    expect(after.body.data).toEqual({
      me: { role: "VIEWER" },
      customer: { name: CUSTOMER.name, email: null },
    });
  });

  it("refuses a revoked API client's token on the next request with 401", async () => {
    const client = await createApiClient(url, acme.members.ADMIN.token, ["customers:read"]);
    const read = () =>
      gql(url, `{ customers(first: 1) { totalCount } }`, {}, { token: client.token });
    expect((await read()).status).toBe(200);
    dataOf(
      await gql(
        url,
        `mutation($id: ID!) { revokeApiClient(id: $id) { revokedAt } }`,
        { id: client.id },
        {
          token: acme.members.ADMIN.token,
        },
      ),
    );
    const after = await read();
    expect(after.status).toBe(401);
    expect(after.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    expect(codesOf(after)).toEqual(["UNAUTHENTICATED"]);
    expect(after.body.data ?? null).toBeNull();
  });
});
