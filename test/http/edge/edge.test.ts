import { mkdtempSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, uniqueEmail } from "../../support/fixtures.js";
import { dataOf, gql } from "../../support/graphql.js";
import { productionEnv, startServer, type TestServer } from "../../support/server.js";

/*
 * The HTTP edge in both configurations a deployment meets: development (Sandbox, public
 * introspection) and production (HSTS, authenticated introspection); CORS is test/http/edge/cors.test.ts.
 */

const APP_ORIGIN = "https://app.example.com";
let dev: TestServer;
let prod: TestServer;
let prodToken: string;

async function signUp(url: string): Promise<string> {
  const res = await gql(
    url,
    `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`,
    {
      input: {
        organizationName: "Edge Co",
        displayName: "Admin",
        email: uniqueEmail("edge"),
        password: PASSWORD,
      },
    },
  );
  return (dataOf(res).signUp as { accessToken: string }).accessToken;
}

beforeAll(async () => {
  dev = await startServer({
    NODE_ENV: "development",
    DATA_DIR: mkdtempSync(join(tmpdir(), "edge-dev-")),
    SEED_DEMO_DATA: "false",
    BCRYPT_ROUNDS: "4",
  });
  // batches are off by default; the request-id test below sends one
  prod = await startServer(productionEnv({ CORS_ORIGINS: APP_ORIGIN, BATCH_LIMIT: "10" }));
  prodToken = await signUp(prod.url);
});

afterAll(async () => {
  await dev?.close();
  await prod?.close();
});

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });

/** Sends raw bytes (what fetch would refuse to send) and reads until the server closes. */
function rawExchange(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let received = "";
    socket.setEncoding("utf8").on("data", (chunk: string) => (received += chunk));
    socket.on("close", () => resolve(received));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "ECONNRESET") reject(error);
    });
  });
}

/** A response body as the test reads it (any: the assertions check its shape). */
const json = (res: Response): Promise<any> => res.json();

const typename = JSON.stringify({ query: "{ __typename }" });

describe("security headers", () => {
  const expectApiHeaders = (res: Response) => {
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("content-security-policy")).toMatch(/^default-src 'none';/);
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-powered-by")).toBeNull();
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  };

  it("are on every response, errors and unknown routes included, in both configurations", async () => {
    for (const { url } of [dev, prod]) {
      const responses = [
        await post(url, typename),
        await post(url, "{not json"),
        await fetch(`${url}/nope`),
        await fetch(`${url}/healthz`),
      ];
      expect(responses.map((r) => r.status)).toEqual([200, 400, 404, 200]);
      responses.forEach(expectApiHeaders);
    }
  });

  it("include HSTS in production only", async () => {
    expect((await post(prod.url, typename)).headers.get("strict-transport-security")).toBe(
      "max-age=31536000; includeSubDomains",
    );
    expect((await post(dev.url, typename)).headers.get("strict-transport-security")).toBeNull();
  });

  it("keep GraphQL responses out of every cache", async () => {
    expect((await post(prod.url, typename)).headers.get("cache-control")).toBe("no-store");
  });
});

describe("Apollo Sandbox", () => {
  it("is served in development with a CSP allowing exactly the page's nonce and Sandbox's origins", async () => {
    const res = await fetch(`${dev.url}/graphql`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    const html = await res.text();
    const nonce = /<script nonce="([0-9a-f]{64})"/.exec(html)?.[1];
    expect(nonce).toBeDefined();
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain(
      `script-src 'nonce-${nonce}' https://embeddable-sandbox.cdn.apollographql.com;`,
    );
    expect(csp).toContain("frame-src https://sandbox.embed.apollographql.com;");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    // Every external script the page loads is allowed by the header, and nothing else.
    const scripts = [...html.matchAll(/<script[^>]* src="(https:\/\/[^/"]+)/g)].map((m) => m[1]);
    expect(scripts).toEqual(["https://embeddable-sandbox.cdn.apollographql.com"]);
    // A fresh nonce per page.
    const again = await fetch(`${dev.url}/graphql`, { headers: { accept: "text/html" } });
    expect(again.headers.get("content-security-policy")).not.toContain(nonce);
  });

  it("does not exist in production: a browser GET gets a JSON error, not a page", async () => {
    const res = await fetch(`${prod.url}/graphql`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(res.headers.get("content-security-policy")).toMatch(/^default-src 'none';/);
  });
});

describe("CSRF prevention and methods", () => {
  it("refuses what a browser can send cross-site without a preflight, and runs the same query otherwise", async () => {
    const query = encodeURIComponent("{ __typename }");
    const simpleGet = await fetch(`${prod.url}/graphql?query=${query}`);
    expect(simpleGet.status).toBe(400);
    expect((await json(simpleGet)).errors[0].extensions.code).toBe("BAD_REQUEST");
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]) {
      const res = await post(prod.url, typename, { "content-type": type });
      expect(res.status, type).toBe(415);
      expect((await json(res)).errors[0].extensions.code).toBe("BAD_REQUEST");
    }
    const preflighted = await fetch(`${prod.url}/graphql?query=${query}`, {
      headers: { "apollo-require-preflight": "true" },
    });
    expect(preflighted.status).toBe(200);
    expect(await json(preflighted)).toMatchObject({ data: { __typename: "Query" } });
    expect((await post(prod.url, typename)).status).toBe(200);
  });

  it("runs queries only over GET: a mutation is 405 with Allow: POST and is not executed", async () => {
    const mutation = `mutation { signUp(input: { organizationName: "Get Co", displayName: "G", email: "${uniqueEmail("get")}", password: "${PASSWORD}" }) { accessToken } }`;
    const res = await fetch(`${prod.url}/graphql?query=${encodeURIComponent(mutation)}`, {
      headers: { "apollo-require-preflight": "true" },
    });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    const body = await json(res);
    expect(body.data).toBeUndefined();
    expect(body.errors[0].extensions.code).toBe("BAD_REQUEST");
  });

  it("answers other methods on /graphql with 405", async () => {
    const res = await fetch(`${prod.url}/graphql`, { method: "PUT" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, POST");
  });
});

describe("GraphQL over HTTP media types", () => {
  const accept = "application/graphql-response+json";

  it("answers application/graphql-response+json when asked, application/json otherwise", async () => {
    const res = await post(prod.url, typename, { accept });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(`${accept}; charset=utf-8`);
    expect((await post(prod.url, typename)).headers.get("content-type")).toBe(
      "application/json; charset=utf-8",
    );
  });

  it("uses 4xx for a response without data under graphql-response+json, 200 under JSON", async () => {
    const body = JSON.stringify({
      query: "query($first: Int) { customers(first: $first) { totalCount } }",
      variables: { first: "ten" },
    });
    const strict = await post(prod.url, body, { accept, authorization: `Bearer ${prodToken}` });
    expect(strict.status).toBe(400);
    const legacy = await post(prod.url, body, { authorization: `Bearer ${prodToken}` });
    expect(legacy.status).toBe(200);
    for (const res of [await json(strict), await json(legacy)]) {
      expect(res.data).toBeUndefined();
      expect(res.errors[0].extensions.code).toBe("BAD_USER_INPUT");
    }
  });
});

describe("the Accept header", () => {
  const create = (name: string) =>
    JSON.stringify({
      query: `mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }`,
      variables: { input: { name } },
    });
  const countNamed = async (name: string) => {
    const res = await gql(
      prod.url,
      `query($name: String!) { customers(filter: { nameContains: $name }) { totalCount } }`,
      { name },
      { token: prodToken },
    );
    return (dataOf(res).customers as { totalCount: number }).totalCount;
  };
  const auth = () => ({ authorization: `Bearer ${prodToken}` });

  it("refuses a request that accepts no JSON answer 406 before it runs: the mutation commits nothing", async () => {
    const name = `accept-${Date.now()}`;
    const refused = await post(prod.url, create(name), { ...auth(), accept: "application/xml" });
    expect(refused.status).toBe(406);
    expect(refused.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect((await json(refused)).errors[0].extensions.code).toBe("BAD_REQUEST");
    expect(await countNamed(name)).toBe(0);

    for (const accept of [
      "application/json",
      "*/*",
      "application/*;q=0.5, text/html",
      "application/json; charset=utf-8",
      "application/graphql-response+json;charset=UTF-8",
    ]) {
      const res = await post(prod.url, create(`${name}-${accept}`), { ...auth(), accept });
      expect(res.status, accept).toBe(200);
    }
    expect(await countNamed(name)).toBe(5);
  });

  it("answers an operationName the document does not have 400 BAD_REQUEST, one of the API's codes", async () => {
    for (const body of [
      { query: "query A { __typename } query B { __typename }" },
      { query: "query A { __typename }", operationName: "Z" },
    ]) {
      const res = await post(prod.url, JSON.stringify(body), auth());
      expect(res.status).toBe(400);
      expect((await json(res)).errors[0].extensions.code).toBe("BAD_REQUEST");
    }
    const named = { query: "query A { __typename } query B { __typename }", operationName: "B" };
    expect((await post(prod.url, JSON.stringify(named), auth())).status).toBe(200);
  });
});

describe("errors outside GraphQL", () => {
  it("answer malformed JSON (400), a wrong media type (415) and a large body (413) as GraphQL errors", async () => {
    const cases: [Response, number][] = [
      [await post(prod.url, '{"query": "{ __typename }"'), 400],
      [await post(prod.url, ""), 400],
      [await post(prod.url, '{"__proto__": {"admin": true}, "query": "{ me { id } }"}'), 400],
      [await post(prod.url, typename, { "content-type": "application/xml" }), 415],
      // no file uploads: multipart bodies have no parser
      [await post(prod.url, "--b\r\n", { "content-type": "multipart/form-data; boundary=b" }), 415],
      [
        await post(prod.url, JSON.stringify({ query: `{ __typename } #${"x".repeat(100_001)}` })),
        413,
      ],
    ];
    for (const [res, status] of cases) {
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
      const text = await res.text();
      expect(text).not.toMatch(/at .*\.(js|ts):\d+|FST_|node_modules|SyntaxError/);
      const body = JSON.parse(text);
      expect(body).toEqual({
        errors: [
          {
            message: expect.any(String),
            extensions: { code: "BAD_REQUEST", requestId: res.headers.get("x-request-id") },
          },
        ],
      });
    }
  });

  it("answer what the HTTP parser refuses in the API's shape, with the security headers", async () => {
    const host = "Host: 127.0.0.1\r\nContent-Type: application/json\r\n";
    const cases: [string, number][] = [
      [`POST /graphql HTTP/1.1\r\n${host}Bad Header Line\r\nContent-Length: 2\r\n\r\n{}`, 400],
      [
        `POST /graphql HTTP/1.1\r\n${host}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}`,
        400,
      ],
      [`GET /graphql HTTP/1.1\r\n${host}X-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431],
    ];
    for (const [request, status] of cases) {
      const answer = await rawExchange(prod.url, request);
      const [head, body] = answer.split("\r\n\r\n");
      expect(head).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      for (const header of [
        "content-type: application/json; charset=utf-8",
        "x-content-type-options: nosniff",
        "x-frame-options: DENY",
        "content-security-policy: default-src 'none'",
        "strict-transport-security: max-age=",
        "cache-control: no-store",
      ]) {
        expect(head!.toLowerCase()).toContain(header.toLowerCase());
      }
      const requestId = /x-request-id: (\S+)/i.exec(head!)?.[1];
      expect(JSON.parse(body!)).toEqual({
        errors: [{ message: expect.any(String), extensions: { code: "BAD_REQUEST", requestId } }],
      });
    }
    // the server goes on serving
    expect((await post(prod.url, typename)).status).toBe(200);
  });

  it("answer an unknown route with a 404 JSON error", async () => {
    const res = await fetch(`${prod.url}/admin/../../etc/passwd?x=1`);
    expect(res.status).toBe(404);
    const body = await json(res);
    expect(body.errors[0].extensions.code).toBe("NOT_FOUND");
    expect(body.errors[0].message).toBe("Not found");
  });

  it("carry the request id on every GraphQL error, matching the X-Request-Id header", async () => {
    const auth = { authorization: `Bearer ${prodToken}` };
    const cases: [string, Response, number, string][] = [
      // refused by validation, inside the operation's hooks
      [
        "validation",
        await post(prod.url, JSON.stringify({ query: "{ customers { nope } }" }), auth),
        400,
        "GRAPHQL_VALIDATION_FAILED",
      ],
      // refused by Apollo's own check of the HTTP request, outside any operation hook
      [
        "variables as a string",
        await post(prod.url, JSON.stringify({ query: "{ __typename }", variables: "{}" }), auth),
        400,
        "BAD_REQUEST",
      ],
      // the context could not be created
      [
        "bad token",
        await post(prod.url, typename, { authorization: "Bearer not-a-token" }),
        401,
        "UNAUTHENTICATED",
      ],
      // an error of an executed operation, next to data
      [
        "execution",
        await post(
          prod.url,
          JSON.stringify({ query: "{ me { id } customers(first: 0) { totalCount } }" }),
          auth,
        ),
        200,
        "BAD_USER_INPUT",
      ],
    ];
    for (const [name, res, status, code] of cases) {
      const body = await json(res);
      expect({ name, status: res.status }).toEqual({ name, status });
      expect(body.errors[0].extensions, name).toMatchObject({
        code,
        requestId: res.headers.get("x-request-id"),
      });
    }
    const batch = await post(
      prod.url,
      JSON.stringify([{ query: "{ __typename }", variables: "{}" }, { query: "{ nope }" }]),
      auth,
    );
    const requestId = batch.headers.get("x-request-id");
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await json(batch)).map((r: any) => r.errors[0].extensions)).toEqual([
      { code: "BAD_REQUEST", requestId },
      expect.objectContaining({ code: "GRAPHQL_VALIDATION_FAILED", requestId }),
    ]);
  });
});

describe("introspection policy", () => {
  const schemaQuery = JSON.stringify({ query: "{ __schema { queryType { name } } }" });
  const hiddenInFragment = JSON.stringify({
    query: `query { ...F } fragment F on Query { __type(name: "Customer") { fields { name } } }`,
  });

  it("production: anonymous callers are refused with 401 UNAUTHENTICATED, token holders introspect", async () => {
    for (const body of [schemaQuery, hiddenInFragment]) {
      const res = await post(prod.url, body);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="graphql"');
      const refused = await json(res);
      expect(refused.data).toBeUndefined();
      expect(refused.errors[0].extensions.code).toBe("UNAUTHENTICATED");
    }
    const allowed = await post(prod.url, schemaQuery, { authorization: `Bearer ${prodToken}` });
    expect(allowed.status).toBe(200);
    expect(await json(allowed)).toMatchObject({
      data: { __schema: { queryType: { name: "Query" } } },
    });
    // __typename is not introspection: clients' caches need it.
    expect(await json(await post(prod.url, typename))).toMatchObject({
      data: { __typename: "Query" },
    });
  });

  it("development: public", async () => {
    const res = await post(dev.url, schemaQuery);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ data: { __schema: { queryType: { name: "Query" } } } });
  });

  it("off: nobody reads the schema, not even with a token", async () => {
    const off = await startServer({ INTROSPECTION: "off" });
    try {
      const token = await signUp(off.url);
      const res = await post(off.url, schemaQuery, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(400);
      expect((await json(res)).errors[0].extensions.code).toBe("GRAPHQL_VALIDATION_FAILED");
      expect((await post(off.url, typename)).status).toBe(200);
    } finally {
      await off.close();
    }
  });

  it("field suggestions only where the schema is public", async () => {
    const typo = JSON.stringify({ query: "{ organizaton { id } }" });
    const devError = (await json(await post(dev.url, typo))).errors[0].message;
    expect(devError).toContain('Did you mean "organization"?');
    const prodRes = await post(prod.url, typo, { authorization: `Bearer ${prodToken}` });
    const prodError = (await json(prodRes)).errors[0].message;
    expect(prodError).toBe('Cannot query field "organizaton" on type "Query".');
  });
});
