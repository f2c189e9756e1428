import { randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import { beforeAll, describe, expect, it } from "vitest";
import { createTenant, type Tenant } from "../support/fixtures.js";
import { dataOf, gql, type GraphQLResponse } from "../support/graphql.js";
import { startServer, type TestServer } from "../support/server.js";

/*
 * A bad bearer token refuses the whole request (401, WWW-Authenticate, UNAUTHENTICATED) and is
 * never downgraded to anonymous. Tokens are crafted here with the server's own secret, so expiry
 * and the other claims are tested without waiting 15 minutes.
 */

const SECRET = "identity-test-secret-0123456789-abcdefghijklmnop";
const OLD_SECRET = "identity-old-secret-9876543210-zyxwvutsrqponmlk";
const OTHER_SECRET = "an-attackers-guess-at-the-secret-0123456789-xyz";
const ISSUER = "customer-records-api";

let server: TestServer;
let url: string;
let tenant: Tenant;
let kid: string;
let realClaims: Record<string, unknown>;

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A token the server's own code would sign, with some claims changed. */
function craft(
  changes: Record<string, unknown> = {},
  { secret = SECRET, header = {} } = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    ...realClaims,
    iat: now,
    exp: now + 900,
    jti: randomUUID(),
    ...changes,
  };
  for (const [key, value] of Object.entries(payload)) {
    if (value === undefined) delete payload[key];
  }
  return jwt.sign(payload, secret, {
    algorithm: "HS256",
    header: { alg: "HS256", typ: "JWT", kid, ...header },
  });
}

const ask = (token: string) =>
  gql(url, `{ __typename me { id } }`, {}, { headers: { authorization: `Bearer ${token}` } });

function expectRefused(res: GraphQLResponse) {
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
  expect(res.body.data ?? null).toBeNull();
  expect(res.body.errors).toEqual([
    expect.objectContaining({
      message: "Invalid or expired token",
      extensions: { code: "UNAUTHENTICATED", requestId: expect.any(String) },
    }),
  ]);
}

beforeAll(async () => {
  server = await startServer({ JWT_SECRET: SECRET });
  url = server.url;
  tenant = await createTenant(url, "tokens");
  const decoded = jwt.decode(tenant.members.AGENT.token, { complete: true })!;
  kid = decoded.header.kid!;
  realClaims = decoded.payload as Record<string, unknown>;
  return () => server.close();
});

describe("access tokens", () => {
  it("carry iss, aud, exp (15 minutes), sub, typ, org, sid and jti, signed HS256 with a key id", () => {
    const { header, payload } = jwt.decode(tenant.members.AGENT.token, { complete: true })!;
    expect(header).toMatchObject({ alg: "HS256", kid: expect.any(String) });
    const claims = payload as Record<string, unknown>;
    expect(claims).toMatchObject({
      iss: ISSUER,
      aud: ISSUER,
      typ: "user",
      sub: expect.any(String),
      org: expect.any(String),
      sid: expect.any(String),
      jti: expect.any(String),
    });
    expect((claims.exp as number) - (claims.iat as number)).toBe(900);
  });

  it("a valid token is the user; no token at all is anonymous", async () => {
    const res = await ask(tenant.members.AGENT.token);
    expect(res.status).toBe(200);
    expect(dataOf(res).me.id).toBeTruthy();
    const crafted = dataOf(await ask(craft())); // the crafting helper itself makes good tokens
    expect(crafted.me.id).toBe(dataOf(res).me.id);
    const anonymous = await gql(url, `{ __typename }`);
    expect(anonymous.status).toBe(200);
    expect(anonymous.body.data).toEqual({ __typename: "Query" });
  });

  const now = () => Math.floor(Date.now() / 1000);
  const attacks: [string, () => string][] = [
    ["signed with another secret", () => craft({}, { secret: OTHER_SECRET })],
    [
      "with a tampered payload",
      () => {
        const [h, , s] = craft().split(".");
        return `${h}.${b64({ ...realClaims, sub: randomUUID() })}.${s}`;
      },
    ],
    [
      "with alg none",
      () => {
        const header = { alg: "none", typ: "JWT", kid };
        return `${b64(header)}.${b64({ ...realClaims, exp: now() + 900 })}.`;
      },
    ],
    [
      "with alg none and a signature",
      () => {
        const [, p, s] = craft().split(".");
        return `${b64({ alg: "none", typ: "JWT", kid })}.${p}.${s}`;
      },
    ],
    [
      "with alg HS512 over the right secret",
      () =>
        jwt.sign({ ...realClaims, exp: now() + 900 }, SECRET, {
          algorithm: "HS512",
          header: { alg: "HS512", kid },
        }),
    ],
    ["expired", () => craft({ iat: now() - 1000, exp: now() - 100 })],
    ["without exp", () => craft({ exp: undefined })],
    ["not yet valid", () => craft({ nbf: now() + 600 })],
    ["for another audience", () => craft({ aud: "some-other-api" })],
    ["without an audience", () => craft({ aud: undefined })],
    ["from another issuer", () => craft({ iss: "https://evil.example" })],
    ["with an unknown key id", () => craft({}, { header: { kid: "not-a-key-we-know" } })],
    ["without a key id", () => craft({}, { header: { kid: undefined } })],
    ["of an unknown type", () => craft({ typ: "admin" })],
    ["for a user that does not exist", () => craft({ sub: randomUUID() })],
    ["for the right user in another organization", () => craft({ org: randomUUID() })],
    [
      "of a client that does not exist",
      () => craft({ typ: "client", sid: undefined, scope: "customers:read", sub: randomUUID() }),
    ],
    ["malformed (not a JWT)", () => "not-a-jwt"],
    ["malformed (three garbage segments)", () => "aaa.bbb.ccc"],
    [
      "malformed (a JWT header over a payload that is not JSON)",
      () =>
        `${b64({ alg: "HS256", typ: "JWT", kid })}.${Buffer.from("{oops").toString("base64url")}.c2ln`,
    ],
    ["a refresh token used as an access token", () => tenant.members.AGENT.refreshToken],
  ];

  it.each(attacks)("refuses a token %s with 401, never as anonymous", async (_, token) => {
    expectRefused(await ask(token()));
  });

  it.each([
    ["Basic scheme", `Basic ${Buffer.from("a:b").toString("base64")}`],
    ["empty bearer", "Bearer "],
    ["empty header", ""],
    ["two tokens", "Bearer a.b.c d.e.f"],
  ])("refuses an Authorization header that is not one bearer token (%s)", async (_, header) => {
    expectRefused(await gql(url, `{ __typename }`, {}, { headers: { authorization: header } }));
  });

  it("refuses a bad token even on the public mutations, which work without one", async () => {
    const query = `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }`;
    const variables = { e: tenant.members.AGENT.email, p: "correct horse battery staple" };
    expectRefused(await gql(url, query, variables, { headers: { authorization: "Bearer x.y.z" } }));
    const ok = await gql(url, query, variables);
    expect(dataOf(ok).logIn.accessToken).toBeTruthy();
  });
});

describe("secret rotation (JWT_PREVIOUS_SECRETS)", () => {
  let oldServer: TestServer;
  let oldToken: string;

  beforeAll(async () => {
    oldServer = await startServer({ JWT_SECRET: OLD_SECRET });
    oldToken = (await createTenant(oldServer.url, "rotation")).members.VIEWER.token;
    return () => oldServer.close();
  });

  it("keeps tokens signed with a previous secret valid, and signs new ones with the current", async () => {
    const rotated = await startServer({ JWT_SECRET: SECRET, JWT_PREVIOUS_SECRETS: OLD_SECRET });
    try {
      const me = await gql(rotated.url, `{ me { role } }`, {}, { token: oldToken });
      expect(dataOf(me).me.role).toBe("VIEWER");
      const fresh = await gql(
        rotated.url,
        `{ me { role } }`,
        {},
        { token: tenant.members.AGENT.token },
      );
      expect(dataOf(fresh).me.role).toBe("AGENT");
      const oldKid = jwt.decode(oldToken, { complete: true })!.header.kid;
      expect(oldKid).not.toBe(kid);
    } finally {
      await rotated.close();
    }
  });

  it("refuses tokens of a secret that is no longer listed", async () => {
    // `server` runs with SECRET only: OLD_SECRET was dropped from the list.
    expectRefused(await gql(url, `{ me { role } }`, {}, { token: oldToken }));
    // Forging the old token's key id with another secret does not help either.
    const forged = jwt.sign(jwt.decode(oldToken) as object, OTHER_SECRET, {
      algorithm: "HS256",
      header: { alg: "HS256", kid: jwt.decode(oldToken, { complete: true })!.header.kid },
    });
    const rotated = await startServer({ JWT_SECRET: SECRET, JWT_PREVIOUS_SECRETS: OLD_SECRET });
    try {
      expectRefused(await gql(rotated.url, `{ me { role } }`, {}, { token: forged }));
    } finally {
      await rotated.close();
    }
  });
});
