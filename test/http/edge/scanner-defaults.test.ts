import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, uniqueEmail } from "../../support/fixtures.js";
import { codesOf, dataOf, gql } from "../../support/graphql.js";
import { productionEnv, startServer, type TestServer } from "../../support/server.js";

/*
 * What a GraphQL scanner (graphql-cop) tries against a server at production defaults: alias and
 * directive overloading and automatic persisted queries (batching: test/http/batching.test.ts).
 */

let server: TestServer;
let token: string;

beforeAll(async () => {
  server = await startServer(productionEnv());
  token = (
    dataOf(
      await gql(server.url, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`, {
        i: {
          organizationName: "Scanned",
          displayName: "A",
          email: uniqueEmail("cop"),
          password: PASSWORD,
        },
      }),
    ).signUp as { accessToken: string }
  ).accessToken;
});
afterAll(async () => {
  await server?.close();
});

const aliases = (n: number, field = "__typename") =>
  Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(" ");

describe("alias overloading", () => {
  it("counts aliases of __typename like any other: 101 are refused, 15 are served", async () => {
    const overloaded = await gql(server.url, `query cop { ${aliases(101)} }`, {}, { token });
    expect(overloaded.status).toBe(400);
    expect(codesOf(overloaded)).toEqual(["ALIAS_LIMIT_EXCEEDED"]);
    expect(overloaded.body.data).toBeUndefined();
    expect(codesOf(await gql(server.url, `{ ${aliases(16)} }`, {}, { token }))).toEqual([
      "ALIAS_LIMIT_EXCEEDED",
    ]);
    expect(dataOf(await gql(server.url, `{ ${aliases(15)} }`, {}, { token })).a14).toBe("Query");
  });

  it("counts a fragment's aliases each time it is spread", async () => {
    const twice = `{ ...F me { ...G } } fragment F on Query { ${aliases(8)} }
      fragment G on User { ${aliases(8, "id")} }`;
    expect(codesOf(await gql(server.url, twice, {}, { token }))).toEqual(["ALIAS_LIMIT_EXCEEDED"]);
  });
});

describe("directive overloading", () => {
  it("answers ten copies of one directive with one error", async () => {
    const res = await gql(
      server.url,
      `query cop { __typename ${"@aa".repeat(10)} }`,
      {},
      { token },
    );
    expect(res.status).toBe(400);
    expect(codesOf(res)).toEqual(["DIRECTIVE_LIMIT_EXCEEDED"]);
    const known = await gql(
      server.url,
      `{ __typename @include(if: true) @include(if: true) @include(if: true) }`,
      {},
      { token },
    );
    expect(codesOf(known)).toEqual(["DIRECTIVE_LIMIT_EXCEEDED"]);
  });

  it("serves different directives at one location", async () => {
    const res = await gql(
      server.url,
      `{ __typename @include(if: true) @skip(if: false) }`,
      {},
      { token },
    );
    expect(dataOf(res)).toEqual({ __typename: "Query" });
  });
});

describe("automatic persisted queries", () => {
  const hash = "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38";

  it("are not supported: a hash alone, or a document with its hash, is refused", async () => {
    for (const body of [
      { extensions: { persistedQuery: { version: 1, sha256Hash: hash } } },
      { query: "{ __typename }", extensions: { persistedQuery: { version: 1, sha256Hash: hash } } },
      { extensions: { persistedQuery: { version: 2, sha256Hash: "not a hash" } } },
    ]) {
      const res = await fetch(`${server.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as {
        data?: unknown;
        errors: { extensions: { code: string } }[];
      };
      expect(json.errors.map((e) => e.extensions.code)).toEqual(["PERSISTED_QUERY_NOT_SUPPORTED"]);
      expect(json.data).toBeUndefined();
    }
  });
});
