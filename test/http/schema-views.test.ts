import { readFileSync } from "node:fs";
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  type IntrospectionQuery,
  type GraphQLSchema,
  isObjectType,
} from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { printApiSchema, SCHEMA_FILE } from "../../src/graphql/schema.js";
import { CLIENT_SCOPE_SETS } from "../support/access-matrix.js";
import { createApiClient } from "../support/api-clients.js";
import { createCustomer, createTenant, ROLES, type Tenant } from "../support/fixtures.js";
import { codesOf, dataOf, gql } from "../support/graphql.js";
import { expectedView, viewOf } from "../support/permissions-table.js";
import { startServer, type TestServer } from "../support/server.js";

/*
 * Each principal introspects its own view of the schema: exactly what schema/permissions.md
 * lets its grant use. Execution is unchanged: a field outside the view is refused field by field.
 */

let server: TestServer;
let acme: Tenant;
/** Tokens of API clients by their scopes, joined with "+". */
const clients = new Map<string, string>();

beforeAll(async () => {
  // public: anonymous callers introspect too (their view); tokens work under any setting
  server = await startServer({ INTROSPECTION: "public" });
  acme = await createTenant(server.url, "views");
  await createCustomer(server.url, acme.members.ADMIN.token, { taxId: "987-65-4321" });
  for (const scopes of CLIENT_SCOPE_SETS) {
    const client = await createApiClient(server.url, acme.members.ADMIN.token, scopes);
    clients.set(scopes.join("+"), client.token);
  }
});

afterAll(async () => {
  await server?.close();
});

const FULL_INTROSPECTION = getIntrospectionQuery({
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
});

async function introspect(token: string | undefined): Promise<GraphQLSchema> {
  const res = await gql<IntrospectionQuery>(server.url, FULL_INTROSPECTION, {}, { token });
  expect(res.status).toBe(200);
  // costs what introspection cost before views: the minimum of a query
  expect(res.body.extensions?.cost).toMatchObject({ requestedQueryCost: 1, actualQueryCost: 1 });
  return buildClientSchema(dataOf(res));
}

async function sdlOf(token: string | undefined, baseUrl = server.url) {
  const res = await fetch(`${baseUrl}/schema.graphql`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const sorted = (set: Set<string>) => [...set].sort();

describe("introspection shows each grant of schema/permissions.md its own view", () => {
  const grants: { name: string; columns: string[]; token: () => string | undefined }[] = [
    ...ROLES.map((role) => ({
      name: role,
      columns: [role],
      token: () => acme.members[role].token,
    })),
    ...CLIENT_SCOPE_SETS.map((scopes) => ({
      name: `client with ${scopes.join(" and ")}`,
      columns: scopes,
      token: () => clients.get(scopes.join("+")),
    })),
    { name: "anonymous", columns: ["anonymous"], token: () => undefined },
  ];

  for (const grant of grants) {
    it(`${grant.name}: the types and fields the table grants, reachable from the roots`, async () => {
      const seen = viewOf(await introspect(grant.token()));
      const expected = expectedView(grant.columns);
      expect(sorted(seen.types)).toEqual(sorted(expected.types));
      expect(sorted(seen.fields)).toEqual(sorted(expected.fields));
    });
  }

  it("a client with customers:read sees no taxId, no email, no audit, no admin operations", async () => {
    const schema = await introspect(clients.get("customers:read"));
    const fieldsOf = (type: string) => {
      const named = schema.getType(type);
      return isObjectType(named) ? Object.keys(named.getFields()) : [];
    };
    expect(fieldsOf("Customer")).toEqual(["id", "name", "createdAt", "updatedAt", "createdBy"]);
    expect(fieldsOf("Query")).not.toContain("auditEvents");
    expect(fieldsOf("Query")).not.toContain("apiClients");
    for (const admin of ["createApiClient", "revokeApiClient", "createUser", "setUserRole"]) {
      expect(fieldsOf("Mutation")).not.toContain(admin);
    }
    for (const hidden of ["ApiClient", "AuditEvent", "AuditCheckpoint", "Note"]) {
      expect(schema.getType(hidden), hidden).toBeUndefined();
    }
    // the email filter would be an oracle on Customer.email: gone with it
    const filter = schema.getType("CustomerFilter");
    expect(filter && "getFields" in filter && Object.keys(filter.getFields())).toEqual([
      "nameContains",
    ]);
    // nor does the description of customers speak of it
    const query = schema.getType("Query");
    const description = isObjectType(query) ? query.getFields().customers?.description : "";
    expect(description).toBe("Requires: ADMIN, AGENT, VIEWER, AUDITOR, or scope customers:read.");
    // __type answers from the view too
    const res = await gql(
      server.url,
      `{ c: __type(name: "Customer") { fields { name } } a: __type(name: "ApiClient") { name } }`,
      {},
      { token: clients.get("customers:read") },
    );
    expect(dataOf(res)).toEqual({
      c: {
        fields: ["id", "name", "createdAt", "updatedAt", "createdBy"].map((name) => ({ name })),
      },
      a: null,
    });
  });

  it("an ADMIN's view is the whole schema, as emitted to schema/schema.graphql", async () => {
    const emitted = readFileSync(SCHEMA_FILE, "utf8");
    expect(printApiSchema(await introspect(acme.members.ADMIN.token))).toBe(emitted);
    const sdl = await sdlOf(acme.members.ADMIN.token);
    expect(sdl.status).toBe(200);
    expect(sdl.text).toBe(emitted);
  });
});

describe("execution does not change", () => {
  it("a field outside the view is refused field by field (FORBIDDEN), not as an invalid document", async () => {
    const res = await gql(
      server.url,
      `{ customers(first: 1) { nodes { name taxId } } }`,
      {},
      { token: clients.get("customers:read") },
    );
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({
      customers: { nodes: [{ name: expect.any(String), taxId: null }] },
    });
    expect(codesOf(res)).toEqual(["FORBIDDEN"]);
    expect(res.body.errors![0]!.path).toEqual(["customers", "nodes", 0, "taxId"]);
    // the same document, with a grant that includes the field, reads it
    const admin = await gql(
      server.url,
      `{ customers(first: 1) { nodes { taxId } } }`,
      {},
      { token: acme.members.ADMIN.token },
    );
    expect(dataOf(admin)).toEqual({ customers: { nodes: [{ taxId: "987-65-4321" }] } });
  });

  it("an operation reading data and the schema gets its data as before and the schema from its view", async () => {
    const query = `query($name: String!) {
      customers(first: 1) { nodes { name taxId } }
      ...Schema
    }
    fragment Schema on Query {
      t: __type(name: $name) { fields { name } }
      s: __schema { mutationType { fields { name } } }
      __typename
    }`;
    const res = await gql(
      server.url,
      query,
      { name: "Customer" },
      { token: clients.get("customers:read") },
    );
    const data = res.body.data as {
      customers: unknown;
      t: { fields: { name: string }[] };
      s: { mutationType: { fields: { name: string }[] } };
      __typename: string;
    };
    expect(Object.keys(data)).toEqual(["customers", "t", "s", "__typename"]);
    expect(data.customers).toEqual({ nodes: [{ name: expect.any(String), taxId: null }] });
    expect(codesOf(res)).toEqual(["FORBIDDEN"]);
    expect(data.t.fields.map((f) => f.name)).not.toContain("taxId");
    expect(data.s.mutationType.fields.map((f) => f.name)).not.toContain("createApiClient");
    // the ADMIN, same document: the whole schema
    const admin = await gql(
      server.url,
      query,
      { name: "Customer" },
      { token: acme.members.ADMIN.token },
    );
    expect((admin.body.data as typeof data).t.fields.map((f) => f.name)).toContain("taxId");
  });
  it("a mutation runs as before when another operation of its document reads the schema", async () => {
    const res = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${acme.members.ADMIN.token}`,
      },
      body: JSON.stringify({
        query: `mutation Make { createCustomer(input: { name: "Two Operations" }) { name } }
          query Look { __schema { queryType { name } } }`,
        operationName: "Make",
      }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      data: { createCustomer: { name: "Two Operations" } },
    });
  });
});

describe("GET /schema.graphql", () => {
  it("serves the token's view as SDL, the same view introspection shows", async () => {
    const token = clients.get("customers:read");
    const sdl = await sdlOf(token);
    expect(sdl.status).toBe(200);
    expect(sdl.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(sdl.headers.get("cache-control")).toBe("no-store");
    expect(sdl.text).toBe(printApiSchema(await introspect(token)));
    expect(sdl.text).not.toContain("taxId");
    expect(viewOf(buildSchema(sdl.text))).toEqual(expectedView(["customers:read"]));
  });

  it("refuses as introspection does: no token under authenticated, anyone under off, a bad token", async () => {
    const authenticated = await startServer({ INTROSPECTION: "authenticated" });
    const off = await startServer({ INTROSPECTION: "off" });
    try {
      const anonymous = await sdlOf(undefined, authenticated.url);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get("www-authenticate")).toBe('Bearer realm="graphql"');
      expect(JSON.parse(anonymous.text).errors[0].extensions.code).toBe("UNAUTHENTICATED");
      expect(anonymous.text).not.toContain("type Query");

      const bad = await sdlOf("not-a-token", authenticated.url);
      expect(bad.status).toBe(401);
      expect(bad.headers.get("www-authenticate")).toContain('error="invalid_token"');

      const closed = await sdlOf(undefined, off.url);
      expect(closed.status).toBe(400);
      expect(JSON.parse(closed.text).errors[0].extensions.code).toBe("GRAPHQL_VALIDATION_FAILED");

      // anonymous under public: its own (small) view
      const open = await sdlOf(undefined);
      expect(open.status).toBe(200);
      expect(viewOf(buildSchema(open.text))).toEqual(expectedView(["anonymous"]));
    } finally {
      await Promise.all([authenticated.close(), off.close()]);
    }
  });
});
