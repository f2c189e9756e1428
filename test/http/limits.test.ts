import { getIntrospectionQuery } from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import { createCustomer, createTenant, PASSWORD, type Tenant } from "../support/fixtures.js";
import { codesOf, dataOf, gql, type GraphQLResponse } from "../support/graphql.js";
import { sharedTestServer, startServer, startSiblingServer } from "../support/server.js";

/*
 * Every abuse limit over HTTP: the attack is refused with its code and status, and the server
 * answers the next legitimate request.
 */

let url: string;
let tenant: Tenant;
let agent: string;

const post = (body: unknown, token?: string) =>
  fetch(`${url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

/** The legitimate request that must still work after each attack. */
async function expectServerStillAnswers(): Promise<void> {
  const res = await gql(url, "{ me { role } }", {}, { token: agent });
  expect(dataOf(res)).toEqual({ me: { role: "AGENT" } });
}

function expectRefused(res: GraphQLResponse, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(codesOf(res)).toContain(code);
  expect(res.body.data ?? undefined).toBeUndefined();
}

/** customers → nodes → notes → nodes → customer → notes …: the schema's real cycle. */
function nestedThroughNotes(levels: number): string {
  const level = (i: number): string => {
    if (i === levels) return "id";
    return i % 2 === 0
      ? `notes(first: 1) { nodes { ${level(i + 1)} } }`
      : `customer { ${level(i + 1)} }`;
  };
  return `{ customers(first: 1) { nodes { ${level(0)} } } }`;
}

beforeAll(async () => {
  ({ url } = await sharedTestServer());
  tenant = await createTenant(url, "limits");
  agent = tenant.members.AGENT.token;
  const customer = await createCustomer(url, agent);
  dataOf(
    await gql(
      url,
      `mutation($id: ID!) { addNote(customerId: $id, body: "first call") { id } }`,
      { id: customer.id },
      { token: agent },
    ),
  );
});

describe("depth", () => {
  it("refuses 50 levels of nesting through the schema's cycles", async () => {
    const res = await gql(url, nestedThroughNotes(50), {}, { token: agent });
    expectRefused(res, 400, "DEPTH_LIMIT_EXCEEDED");
    await expectServerStillAnswers();
  });

  it("counts fragments and inline fragments", async () => {
    // Each fragment adds two levels (notes → nodes → customer): 6 of them exceed depth 10.
    const fragments = Array.from(
      { length: 6 },
      (_, i) =>
        `fragment F${i} on Customer { notes(first: 1) { nodes { customer { ${i < 5 ? `...F${i + 1}` : "id"} } } } }`,
    ).join("\n");
    const viaFragments = await gql(
      url,
      `{ customers(first: 1) { nodes { ...F0 } } }\n${fragments}`,
      {},
      { token: agent },
    );
    expectRefused(viaFragments, 400, "DEPTH_LIMIT_EXCEEDED");

    let inline = "id";
    for (let i = 0; i < 6; i++) {
      inline = `... on Customer { notes(first: 1) { nodes { ... on Note { customer { ${inline} } } } } }`;
    }
    const viaInline = await gql(
      url,
      `{ customers(first: 1) { nodes { ${inline} } } }`,
      {},
      { token: agent },
    );
    expectRefused(viaInline, 400, "DEPTH_LIMIT_EXCEEDED");
    await expectServerStillAnswers();
  });

  it("accepts an operation at the depth limit and refuses one level more", async () => {
    // customers(0) nodes(1) notes(2) nodes(3) customer(4) notes(5) nodes(6) customer(7)
    // notes(8) nodes(9) id(10)
    const res = await gql(url, nestedThroughNotes(5), {}, { token: agent });
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expectRefused(
      await gql(url, nestedThroughNotes(6), {}, { token: agent }),
      400,
      "DEPTH_LIMIT_EXCEEDED",
    );
  });

  it("answers an undefined fragment with a clean 400", async () => {
    const res = await gql(
      url,
      "{ customers(first: 1) { nodes { ...Missing } } }",
      {},
      { token: agent },
    );
    expectRefused(res, 400, "GRAPHQL_VALIDATION_FAILED");
    expect(res.body.errors![0]!.message).toBe('Unknown fragment "Missing".');
    await expectServerStillAnswers();
  });

  it("refuses a fragment bomb without expanding it", async () => {
    // F0 spreads F1 twice, F1 spreads F2 twice, …: 2^40 fields once inlined.
    const fragments = Array.from(
      { length: 40 },
      (_, i) => `fragment F${i} on User { ${i < 39 ? `...F${i + 1} ...F${i + 1}` : "id"} }`,
    ).join("\n");
    const res = await gql(url, `{ me { ...F0 } }\n${fragments}`, {}, { token: agent });
    expectRefused(res, 400, "COST_LIMIT_EXCEEDED");
    await expectServerStillAnswers();
  });
});

describe("aliases, directives and tokens", () => {
  const aliases = (n: number) =>
    `{ ${Array.from({ length: n }, (_, i) => `a${i}: me { id }`).join(" ")} }`;
  const directives = (n: number) =>
    `{ me { ${Array.from({ length: n }, () => "id @skip(if: false)").join(" ")} } }`;

  it("refuses more than 15 aliases and accepts 15", async () => {
    expectRefused(await gql(url, aliases(16), {}, { token: agent }), 400, "ALIAS_LIMIT_EXCEEDED");
    const ok = await gql(url, aliases(15), {}, { token: agent });
    expect(Object.keys(dataOf(ok))).toHaveLength(15);
  });

  it("refuses more than 50 directives and accepts 50", async () => {
    const res = await gql(url, directives(51), {}, { token: agent });
    expectRefused(res, 400, "DIRECTIVE_LIMIT_EXCEEDED");
    expect(res.body.errors![0]!.message).toBe("Directives limit of 50 exceeded, found 51.");
    expect(dataOf(await gql(url, directives(50), {}, { token: agent }))).toEqual({
      me: { id: tenant.members.AGENT.id },
    });
  });

  it("refuses a 10,000-token document while parsing", async () => {
    const res = await gql(url, `{ me { ${"id ".repeat(9_995)} } }`, {}, { token: agent });
    expectRefused(res, 400, "TOKEN_LIMIT_EXCEEDED");
    expect(res.body.errors![0]!.message).toBe("The document has more than 2000 tokens");
    await expectServerStillAnswers();
  });

  it("refuses 1,000 aliases and 500 directives (already by their size at the defaults)", async () => {
    expectRefused(await gql(url, aliases(1000), {}, { token: agent }), 400, "TOKEN_LIMIT_EXCEEDED");
    expectRefused(
      await gql(url, directives(500), {}, { token: agent }),
      400,
      "TOKEN_LIMIT_EXCEEDED",
    );
    await expectServerStillAnswers();
  });

  it("refuses 1,000 aliases and 500 directives by count when the token limit is generous", async () => {
    const roomy = await startServer({ TOKEN_LIMIT: "100000", BODY_LIMIT_BYTES: "1000000" });
    try {
      const { members } = await createTenant(roomy.url, "roomy");
      const token = members.AGENT.token;
      const manyAliases = await gql(roomy.url, aliases(1000), {}, { token });
      expectRefused(manyAliases, 400, "ALIAS_LIMIT_EXCEEDED");
      expect(manyAliases.body.errors![0]!.message).toBe(
        "The operation has 1000 aliases; the limit is 15",
      );
      expectRefused(
        await gql(roomy.url, directives(500), {}, { token }),
        400,
        "DIRECTIVE_LIMIT_EXCEEDED",
      );
      expect(dataOf(await gql(roomy.url, "{ me { role } }", {}, { token }))).toEqual({
        me: { role: "AGENT" },
      });
    } finally {
      await roomy.close();
    }
  });

  it("hides field suggestions outside development", async () => {
    const res = await gql(url, "{ me { displayNam } }", {}, { token: agent });
    expectRefused(res, 400, "GRAPHQL_VALIDATION_FAILED");
    expect(res.body.errors![0]!.message).toBe('Cannot query field "displayNam" on type "User".');
  });
});

describe("batches and bodies", () => {
  it("refuses a batch of 100 logIns without running any", async () => {
    const logIn = {
      query: `mutation($email: String!, $password: String!) {
        logIn(email: $email, password: $password) { accessToken } }`,
      variables: { email: tenant.members.VIEWER.email, password: "wrong password, attempt" },
    };
    const res = await post(Array.from({ length: 100 }, () => logIn));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe("BATCH_LIMIT_EXCEEDED");
    // None ran: 100 wrong passwords would have locked the account.
    const ok = await gql(
      url,
      `mutation($email: String!, $password: String!) {
        logIn(email: $email, password: $password) { accessToken } }`,
      { email: tenant.members.VIEWER.email, password: PASSWORD },
    );
    expect(dataOf(ok)).toHaveProperty("logIn.accessToken");
  });

  it("runs a batch of 10 where batches are allowed, each operation charged and reported", async () => {
    const batching = await startSiblingServer({ BATCH_LIMIT: "10" });
    const res = await fetch(`${batching.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${agent}` },
      body: JSON.stringify(Array.from({ length: 10 }, () => ({ query: "{ me { id } }" }))),
    });
    await batching.close();
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: unknown; extensions: { cost: unknown } }[];
    expect(body).toHaveLength(10);
    for (const result of body) {
      expect(result.data).toEqual({ me: { id: tenant.members.AGENT.id } });
      expect(result.extensions.cost).toMatchObject({ requestedQueryCost: 1, actualQueryCost: 1 });
    }
  });

  it("refuses a 10 MB body with 413", async () => {
    const huge = JSON.stringify({ query: `{ me { id } } #${"x".repeat(10 * 1024 * 1024)}` });
    const res = await post(huge, agent);
    expect(res.status).toBe(413);
    await res.arrayBuffer();
    await expectServerStillAnswers();
  });
});

describe("page size and cost", () => {
  it("refuses first: 100000 with BAD_USER_INPUT naming first", async () => {
    const res = await gql(
      url,
      "{ customers(first: 100000) { nodes { id } } }",
      {},
      { token: agent },
    );
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ customers: null });
    expect(res.body.errors![0]!.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "first",
    });
    await expectServerStillAnswers();
  });

  // customers(first: 100): 1 + 100 × (node 1 + notes(first: 8) (1 + 8 × 1)) = 1001
  const cost1001 = "{ customers(first: 100) { nodes { notes(first: 8) { nodes { id } } } } }";
  // customers(first: 99): 1 + 99 × 10 = 991, plus 9 × organization (1) = 1000
  const cost1000 = `{ customers(first: 99) { nodes { notes(first: 8) { nodes { id } } } }
    ${Array.from({ length: 9 }, (_, i) => `o${i}: organization { id }`).join(" ")} }`;

  it("refuses an operation costing 1,001 before it runs, and runs one costing 1,000", async () => {
    const refused = await gql(url, cost1001, {}, { token: agent });
    expectRefused(refused, 400, "COST_LIMIT_EXCEEDED");
    expect(refused.body.errors![0]!.message).toBe(
      "The operation costs 1001 points; the limit is 1000",
    );
    // nothing ran, and the refusal costs the minimum of an operation (nothing is free)
    expect(refused.body.extensions?.cost).toMatchObject({
      requestedQueryCost: 1001,
      actualQueryCost: 1,
    });

    const accepted = await gql(url, cost1000, {}, { token: agent });
    expect(accepted.status).toBe(200);
    expect(accepted.body.errors).toBeUndefined();
    expect(accepted.body.extensions?.cost).toMatchObject({ requestedQueryCost: 1000 });
  });

  it("prices variables, and reports the actual cost from what really resolved", async () => {
    const res = await gql(
      url,
      "query($n: Int) { customers(first: $n) { edges { node { notes(first: 8) { nodes { id } } } } } }",
      { n: 90 },
      { token: agent },
    );
    expect(dataOf(res)).toBeTruthy();
    // One customer with one note: 1 (connection) + 1 × (node 1 + notes (1 + 1 × 1)) = 4.
    expect(res.body.extensions?.cost).toEqual({
      requestedQueryCost: 901, // 1 + 90 × 10: edges { node } costs what nodes costs
      actualQueryCost: 4,
      throttleStatus: {
        maximumAvailable: 1_000_000, // the test servers' budget (test/support/server.ts)
        currentlyAvailable: expect.any(Number),
        restoreRate: 1_000_000,
      },
    });
  });
});

describe("analyses kept per parsed document", () => {
  // The server keeps each operation's depth and cost once it has seen its document: sending the
  // same refused document again must not get it through, and a cost that depends on variables
  // must be priced anew for each request.
  it("refuses the same too-deep and too-costly documents every time they are sent", async () => {
    const tooCostly = "{ customers(first: 100) { nodes { notes(first: 10) { nodes { id } } } } }";
    for (let attempt = 0; attempt < 3; attempt++) {
      expectRefused(
        await gql(url, nestedThroughNotes(6), {}, { token: agent }),
        400,
        "DEPTH_LIMIT_EXCEEDED",
      );
      expectRefused(await gql(url, tooCostly, {}, { token: agent }), 400, "COST_LIMIT_EXCEEDED");
    }
    await expectServerStillAnswers();
  });

  it("prices the same document with new variables anew", async () => {
    const query = "query($n: Int) { customers(first: $n) { nodes { id } } }";
    const costOf = async (n: number) =>
      (await gql(url, query, { n }, { token: agent })).body.extensions?.cost as
        { requestedQueryCost: number } | undefined;
    expect((await costOf(10))?.requestedQueryCost).toBe(11);
    expect((await costOf(90))?.requestedQueryCost).toBe(91);
    expect((await costOf(10))?.requestedQueryCost).toBe(11);
  });
});

describe("legitimate operations", () => {
  it("serves the standard introspection query with every option on, at the minimum cost", async () => {
    const query = getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
      oneOf: true,
    });
    const res = await gql(url, query, {}, { token: agent });
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(dataOf(res)).toHaveProperty("__schema.queryType.name", "Query");
    expect(res.body.extensions?.cost).toMatchObject({ requestedQueryCost: 1, actualQueryCost: 1 });
  });

  it("refuses a circular introspection query", async () => {
    let nested = "name";
    for (let i = 0; i < 5; i++)
      nested = `fields { type { ofType { ${nested} } } } interfaces { ${nested} }`;
    const res = await gql(url, `{ __schema { types { ${nested} } } }`, {}, { token: agent });
    expectRefused(res, 400, "GRAPHQL_VALIDATION_FAILED");
    expect(res.body.errors![0]!.message).toBe("Maximum introspection depth exceeded");
    await expectServerStillAnswers();
  });

  it("refuses introspection nested past 20 levels, or reading the schema twice", async () => {
    let chain = "name";
    for (let i = 0; i < 60; i++) chain = `ofType { ${chain} }`;
    const deep = await gql(
      url,
      `{ __type(name: "Query") { name ${chain} } }`,
      {},
      { token: agent },
    );
    expectRefused(deep, 400, "DEPTH_LIMIT_EXCEEDED");
    // the same chain through fragments
    const fragments = Array.from(
      { length: 30 },
      (_, i) => `fragment F${i} on __Type { ofType { ${i < 29 ? `...F${i + 1}` : "name"} } }`,
    ).join("\n");
    const viaFragments = await gql(
      url,
      `{ __type(name: "Query") { ...F0 } }\n${fragments}`,
      {},
      { token: agent },
    );
    expectRefused(viaFragments, 400, "DEPTH_LIMIT_EXCEEDED");
    const twice = await gql(
      url,
      `{ a: __schema { types { name } } b: __schema { types { name } } }`,
      {},
      { token: agent },
    );
    expectRefused(twice, 400, "COST_LIMIT_EXCEEDED");
    // what tools send still passes: one schema read (the standard query is above), a type by name
    const typeByName = await gql(
      url,
      `{ __type(name: "Customer") { name fields { name type { name ofType { name ofType { name } } } } } }`,
      {},
      { token: agent },
    );
    expect(dataOf(typeByName)).toHaveProperty("__type.name", "Customer");
    await expectServerStillAnswers();
  });

  it("serves the largest query the SPA sends", async () => {
    const query = `query CustomerList($after: String) {
      customers(first: 20, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges {
          cursor
          node {
            id name email phone dateOfBirth taxId taxIdLast4 createdAt updatedAt
            createdBy { id displayName role }
            notes(first: 5) {
              totalCount
              edges { node { id body private createdAt author { id displayName } } }
            }
          }
        }
      }
    }`;
    const res = await gql(url, query, {}, { token: tenant.members.ADMIN.token });
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    // 1 + 20 × (node 1 + createdBy 1 + notes (1 + 5 × (node 1 + author 1))) = 261
    expect(res.body.extensions?.cost).toMatchObject({ requestedQueryCost: 261 });
    // 1 customer (node 1, createdBy 1, notes 1 + 1 note (node 1, author 1)) = 1 + 5
    expect(res.body.extensions?.cost).toMatchObject({ actualQueryCost: 6 });
  });
});
