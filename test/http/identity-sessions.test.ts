import bcrypt from "bcrypt";
import { eq, sql } from "drizzle-orm";
import jwt from "jsonwebtoken";
import { beforeAll, describe, expect, it } from "vitest";
import { apiClients, refreshTokens, users } from "../../src/db/schema.js";
import { hashOpaqueSecret } from "../../src/security/tokens.js";
import { rowIdOf } from "../../src/graphql/ids.js";
import { loadPrincipal, verifyAuthorization } from "../../src/security/principal.js";
import { createTenant, logIn, PASSWORD, type Tenant, uniqueEmail } from "../support/fixtures.js";
import { codesOf, dataOf, gql, type GraphQLResponse } from "../support/graphql.js";
import {
  sharedTestServer,
  startSiblingServer,
  type TestServer,
  usingPostgres,
} from "../support/server.js";

let server: TestServer;
let url: string;
let tenant: Tenant;

const REFRESH = `mutation($t: String!) {
  refreshSession(refreshToken: $t) { accessToken refreshToken expiresIn user { id } }
}`;
const LOG_OUT = `mutation($t: String!) { logOut(refreshToken: $t) }`;
const CHANGE_PASSWORD = `mutation($c: String!, $n: String!) {
  changePassword(currentPassword: $c, newPassword: $n)
}`;

const refresh = (refreshToken: string) => gql(url, REFRESH, { t: refreshToken });
const me = (token: string) => gql(url, `{ me { id role } }`, {}, { token });
const ME_ID = `{ me { id } }`;

function expectInvalidToken(res: GraphQLResponse) {
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
  expect(codesOf(res)).toEqual(["UNAUTHENTICATED"]);
}

function expectInvalidCredentials(res: GraphQLResponse) {
  expect(res.status).toBe(200);
  expect(res.body.data).toBeNull();
  expect(res.body.errors).toEqual([
    expect.objectContaining({
      message: "Invalid credentials",
      extensions: { code: "UNAUTHENTICATED", requestId: expect.any(String) },
    }),
  ]);
}

beforeAll(async () => {
  server = await sharedTestServer();
  url = server.url;
  tenant = await createTenant(url, "sessions");
});

describe("refresh sessions", () => {
  it("rotate: each refresh token works once and returns a new pair", async () => {
    const first = await logIn(url, tenant.members.AGENT.email);
    const rotated = dataOf(await refresh(first.refreshToken)).refreshSession;
    expect(rotated.refreshToken).not.toBe(first.refreshToken);
    expect(rotated.expiresIn).toBe(900);
    expect(rotated.user.id).toBe(tenant.members.AGENT.id);
    expect(dataOf(await me(rotated.accessToken)).me.id).toBe(tenant.members.AGENT.id);
    // Same session: the access token names the same family.
    expect((jwt.decode(rotated.accessToken) as { sid: string }).sid).toBe(
      (jwt.decode(first.accessToken) as { sid: string }).sid,
    );
    const again = dataOf(await refresh(rotated.refreshToken)).refreshSession;
    expect(dataOf(await me(again.accessToken)).me.id).toBe(tenant.members.AGENT.id);
  });

  it("a reused refresh token (the victim's, after a thief rotated it) ends the family for both", async () => {
    const victim = await logIn(url, tenant.members.AGENT.email);
    const thief = dataOf(await refresh(victim.refreshToken)).refreshSession;
    expect(dataOf(await me(thief.accessToken)).me.id).toBe(tenant.members.AGENT.id);

    expectInvalidCredentials(await refresh(victim.refreshToken)); // the victim's next refresh
    expectInvalidCredentials(await refresh(thief.refreshToken));
    expectInvalidToken(await me(thief.accessToken));
    expectInvalidToken(await me(victim.accessToken));
    // The user is not locked out: a new login is a new, working session.
    const fresh = await logIn(url, tenant.members.AGENT.email);
    expect(dataOf(await me(fresh.accessToken)).me.id).toBe(tenant.members.AGENT.id);
    expect(dataOf(await refresh(fresh.refreshToken)).refreshSession.accessToken).toBeTruthy();
  });

  it("a reused refresh token (the thief's, after the victim rotated it) ends the family for both", async () => {
    const stolen = await logIn(url, tenant.members.AGENT.email);
    const victim = dataOf(await refresh(stolen.refreshToken)).refreshSession;
    expectInvalidCredentials(await refresh(stolen.refreshToken)); // the thief replays
    expectInvalidCredentials(await refresh(victim.refreshToken));
    expectInvalidToken(await me(victim.accessToken));
  });

  it("refuses unknown refresh tokens with the same error", async () => {
    expectInvalidCredentials(await refresh("rt_not-a-token-we-issued"));
    expectInvalidCredentials(await refresh(""));
  });

  it("logOut ends the session's refresh and access tokens, and only that session", async () => {
    const phone = await logIn(url, tenant.members.VIEWER.email);
    const laptop = await logIn(url, tenant.members.VIEWER.email);
    const out = await gql(url, LOG_OUT, { t: phone.refreshToken });
    expect(dataOf(out).logOut).toBe(true);

    expectInvalidCredentials(await refresh(phone.refreshToken));
    expectInvalidToken(await me(phone.accessToken));
    expect(dataOf(await me(laptop.accessToken)).me.id).toBe(tenant.members.VIEWER.id);
    expect(dataOf(await refresh(laptop.refreshToken)).refreshSession.accessToken).toBeTruthy();
    // Logging out twice, or with a token that never existed, says nothing either way.
    expect(dataOf(await gql(url, LOG_OUT, { t: phone.refreshToken })).logOut).toBe(true);
    expect(dataOf(await gql(url, LOG_OUT, { t: "rt_unknown" })).logOut).toBe(true);
  });
});

describe("changePassword", () => {
  it("checks the current password, then ends every session of the user", async () => {
    const own = await createTenant(url, "password");
    const email = own.members.AGENT.email;
    const here = await logIn(url, email);
    const elsewhere = await logIn(url, email);
    const newPassword = "a brand new passphrase 42";

    const wrong = await gql(
      url,
      CHANGE_PASSWORD,
      { c: "not my password!", n: newPassword },
      {
        token: here.accessToken,
      },
    );
    expect(codesOf(wrong)).toEqual(["BAD_USER_INPUT"]);
    const short = await gql(
      url,
      CHANGE_PASSWORD,
      { c: PASSWORD, n: "short" },
      {
        token: here.accessToken,
      },
    );
    expect(codesOf(short)).toEqual(["BAD_USER_INPUT"]);
    // Neither changed anything: the other session still works.
    expect(dataOf(await me(elsewhere.accessToken)).me.id).toBe(own.members.AGENT.id);

    const changed = await gql(
      url,
      CHANGE_PASSWORD,
      { c: PASSWORD, n: newPassword },
      {
        token: here.accessToken,
      },
    );
    expect(dataOf(changed).changePassword).toBe(true);

    expectInvalidToken(await me(elsewhere.accessToken));
    expectInvalidCredentials(await refresh(elsewhere.refreshToken));
    expectInvalidToken(await me(here.accessToken));
    expectInvalidCredentials(await refresh(own.members.AGENT.refreshToken));
    expectInvalidCredentials(
      await gql(
        url,
        `mutation($e: String!) { logIn(email: $e, password: "${PASSWORD}") { accessToken } }`,
        {
          e: email,
        },
      ),
    );
    const after = await logIn(url, email, newPassword);
    expect(dataOf(await me(after.accessToken)).me.id).toBe(own.members.AGENT.id);
    // Other users' sessions are untouched.
    expect(dataOf(await me(own.members.VIEWER.token)).me.role).toBe("VIEWER");
  });
});

describe("concurrent changePassword", () => {
  it("from the same current password: exactly one wins, and its password is the one that works", async () => {
    const own = await createTenant(url, "password-race");
    const email = own.members.AGENT.email;
    const token = (await logIn(url, email)).accessToken;
    const candidates = Array.from({ length: 6 }, (_, i) => `concurrent new passphrase ${i}`);
    const answers = await Promise.all(
      candidates.map((n) => gql(url, CHANGE_PASSWORD, { c: PASSWORD, n }, { token })),
    );
    const winners = candidates.filter((_, i) => answers[i]!.body.data?.changePassword === true);
    expect(winners).toHaveLength(1);
    for (const [i, answer] of answers.entries()) {
      if (candidates[i] === winners[0]) continue;
      // refused as a wrong current password, or (arriving once the winner has ended every
      // session) as a token of an ended session
      expect(codesOf(answer)).toEqual([
        answer.status === 401 ? "UNAUTHENTICATED" : "BAD_USER_INPUT",
      ]);
    }
    for (const candidate of candidates) {
      const res = await gql(
        url,
        `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }`,
        { e: email, p: candidate },
      );
      if (candidate === winners[0]) expect(dataOf(res).logIn).toBeTruthy();
      else expectInvalidCredentials(res);
    }
  });
});

describe("a session racing a password change", () => {
  // The logIn runs on a server whose bcrypt cost differs from the hash's, so after verifying the
  // old password it rehashes (a second of bcrypt at cost 14) before it writes the session: the
  // test changes the password on the shared server meanwhile, once the rehash is seen running.
  it("a logIn that verified the old password while it changed makes no session", async () => {
    const slow = await startSiblingServer({ BCRYPT_ROUNDS: "14" });
    try {
      const { members } = await createTenant(url, "login-race");
      const signingIn = gql(
        slow.url,
        `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken refreshToken } }`,
        { e: members.VIEWER.email, p: PASSWORD },
      );
      await expect
        .poll(() => slow.app.services.passwords.load.running, { timeout: 10_000, interval: 5 })
        .toBe(1);
      const changed = await gql(
        url,
        CHANGE_PASSWORD,
        { c: PASSWORD, n: "the new passphrase!" },
        { token: members.VIEWER.token },
      );
      expect(dataOf(changed).changePassword).toBe(true);
      expect(slow.app.services.passwords.load.running).toBe(1); // the logIn is still hashing
      expectInvalidCredentials(await signingIn);
      expect(
        dataOf(
          await gql(
            url,
            ME_ID,
            {},
            { token: (await logIn(url, members.VIEWER.email, "the new passphrase!")).accessToken },
          ),
        ).me,
      ).toEqual({ id: members.VIEWER.id });
    } finally {
      await slow.close();
    }
  }, 60_000);

  // PostgreSQL only (row locks from a connection of the test's own). The test holds the lock on
  // the refresh token, so the refreshSession stops there; the changePassword is then started and
  // waits too; both go on when the test lets go. Before, the refresh's new token was inserted
  // after the password change had chosen the tokens to end, and kept the session alive.
  it.skipIf(!usingPostgres())(
    "a refreshSession racing a password change leaves no working token",
    async () => {
      const app = `session-race-${rowIdOf(tenant.members.ADMIN.id, "User")!.slice(0, 8)}`;
      const base = new URL(process.env.DATABASE_URL!);
      base.searchParams.set("application_name", app);
      const racing = await startSiblingServer({ DATABASE_URL: base.toString() });
      try {
        const { members } = await createTenant(url, "refresh-race");
        const session = await logIn(url, members.AGENT.email);
        const { db } = server.app.services.database;
        const waiting = async () => {
          const rows = await db.execute(
            sql`select count(*)::int as n from pg_stat_activity where application_name = ${app} and wait_event_type = 'Lock'`,
          );
          return (rows as { n: number }[])[0]!.n;
        };
        let release!: () => void;
        const released = new Promise<void>((resolve) => (release = resolve));
        let locked!: () => void;
        const lockTaken = new Promise<void>((resolve) => (locked = resolve));
        const holding = db.transaction(async (tx) => {
          await tx
            .select({ id: refreshTokens.id })
            .from(refreshTokens)
            .where(eq(refreshTokens.tokenHash, hashOpaqueSecret(session.refreshToken)))
            .for("update");
          locked();
          await released;
        });
        await lockTaken;
        const refreshing = gql(racing.url, REFRESH, { t: session.refreshToken });
        const changing = gql(
          racing.url,
          CHANGE_PASSWORD,
          { c: PASSWORD, n: "another new passphrase" },
          { token: members.AGENT.token },
        );
        try {
          await expect.poll(waiting, { timeout: 10_000, interval: 20 }).toBe(2);
        } finally {
          release();
          await holding;
        }
        expect(dataOf(await changing).changePassword).toBe(true);
        const refreshed = await refreshing;
        // however the two ended, nothing of the old session works afterwards
        if (!refreshed.body.errors) {
          const pair = dataOf(refreshed).refreshSession;
          expectInvalidToken(await me(pair.accessToken));
          expectInvalidCredentials(await refresh(pair.refreshToken));
        } else {
          expectInvalidCredentials(refreshed);
        }
        expectInvalidCredentials(await refresh(session.refreshToken));
        expectInvalidToken(await me(session.accessToken));
      } finally {
        await racing.close();
      }
    },
    60_000,
  );
});

describe("the principal is read from the database on every request", () => {
  it("a role change applies to the very next request with the same token", async () => {
    const own = await createTenant(url, "roles");
    const token = own.members.AGENT.token;
    expect(dataOf(await me(token)).me.role).toBe("AGENT");
    const changed = await gql(
      url,
      `mutation($id: ID!) { setUserRole(id: $id, role: VIEWER) { role } }`,
      { id: own.members.AGENT.id },
      { token: own.members.ADMIN.token },
    );
    expect(dataOf(changed).setUserRole.role).toBe("VIEWER");
    expect(dataOf(await me(token)).me.role).toBe("VIEWER");
    expect((jwt.decode(token) as Record<string, unknown>).role).toBeUndefined(); // never trusted from the token
  });
});

describe("passwords", () => {
  it("a 72-byte password works exactly; with anything appended it does not (no bcrypt truncation)", async () => {
    const email = uniqueEmail("long");
    const longest = "é".repeat(30) + "x".repeat(12); // 72 bytes in UTF-8
    dataOf(
      await gql(
        url,
        `mutation($input: CreateUserInput!) { createUser(input: $input) { id } }`,
        { input: { displayName: "Long", email, password: longest, role: "VIEWER" } },
        { token: tenant.members.ADMIN.token },
      ),
    );
    expect((await logIn(url, email, longest)).accessToken).toBeTruthy();
    expectInvalidCredentials(
      await gql(
        url,
        `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }`,
        {
          e: email,
          p: `${longest}, and then some`,
        },
      ),
    );
  });
});

describe("a hash made at another bcrypt cost (BCRYPT_ROUNDS changed since)", () => {
  it("is replaced at the configured cost on the next successful login, and only then", async () => {
    const { db } = server.app.services.database;
    const own = await createTenant(url, "rehash");
    const { id, email } = own.members.VIEWER;
    const rowId = rowIdOf(id, "User")!;
    const hashOf = async () =>
      (await db.select({ h: users.passwordHash }).from(users).where(eq(users.id, rowId)))[0]!.h;
    const configured = bcrypt.getRounds(await hashOf());
    const older = await bcrypt.hash(PASSWORD, configured + 1);
    await db.update(users).set({ passwordHash: older }).where(eq(users.id, rowId));

    expectInvalidCredentials(
      await gql(
        url,
        `mutation($e: String!) { logIn(email: $e, password: "not the password!") { accessToken } }`,
        { e: email },
      ),
    );
    expect(await hashOf()).toBe(older); // a failed login changes nothing

    const first = await logIn(url, email);
    expect(dataOf(await me(first.accessToken)).me.id).toBe(id);
    const rehashed = await hashOf();
    expect(bcrypt.getRounds(rehashed)).toBe(configured);
    expect(await bcrypt.compare(PASSWORD, rehashed)).toBe(true);
    // the session of the login that rehashed, and the password, both still work
    expect(dataOf(await refresh(first.refreshToken)).refreshSession).toBeTruthy();
    await logIn(url, email);
    expect(await hashOf()).toBe(rehashed); // at the configured cost: left alone
  });
});

describe("a deleted user", () => {
  it("is refused on the next request with the token it still holds", async () => {
    const own = await createTenant(url, "deleted");
    const { token, id } = own.members.VIEWER;
    expect(dataOf(await me(token)).me.id).toBe(id);
    // No mutation deletes users yet; an operator (or a cascade from the organization) might.
    await server.app.services.database.db.delete(users).where(eq(users.id, rowIdOf(id, "User")!));
    expectInvalidToken(await me(token));
    expect(dataOf(await me(own.members.AGENT.token)).me.role).toBe("AGENT");
  });
});

describe("partner API clients", () => {
  const CREATE = `mutation($input: CreateApiClientInput!) {
    createApiClient(input: $input) { clientSecret client { id clientId scopes lastUsedAt revokedAt } }
  }`;
  const ISSUE = `mutation($id: String!, $secret: String!) {
    issueClientToken(clientId: $id, clientSecret: $secret) { accessToken expiresIn scopes }
  }`;
  const CUSTOMERS = `{ customers(first: 5) { nodes { id name } } }`;

  async function createClient(scopes: string[]) {
    const res = await gql(
      url,
      CREATE,
      { input: { name: "Partner", scopes } },
      {
        token: tenant.members.ADMIN.token,
      },
    );
    return dataOf(res).createApiClient as {
      clientSecret: string;
      client: { id: string; clientId: string; scopes: string[]; lastUsedAt: string | null };
    };
  }

  const lastUsedAt = async (id: string) => {
    const res = await gql(
      url,
      `{ apiClients { id lastUsedAt } }`,
      {},
      {
        token: tenant.members.ADMIN.token,
      },
    );
    const clients = dataOf(res).apiClients as { id: string; lastUsedAt: string | null }[];
    return clients.find((c) => c.id === id)!.lastUsedAt;
  };

  it("exchanges id and secret for a 1-hour token carrying exactly the client's scopes", async () => {
    const { client, clientSecret } = await createClient(["CUSTOMERS_READ", "USERS_READ"]);
    expect(clientSecret).toMatch(/^cs_[A-Za-z0-9_-]{43}$/);
    const issued = dataOf(
      await gql(url, ISSUE, { id: client.clientId, secret: clientSecret }),
    ).issueClientToken;
    expect(issued.expiresIn).toBe(3600);
    expect(issued.scopes.sort()).toEqual(["CUSTOMERS_READ", "USERS_READ"]);
    const claims = jwt.decode(issued.accessToken) as Record<string, unknown>;
    expect(claims).toMatchObject({ typ: "client", scope: "customers:read users:read" });
    expect((claims.exp as number) - (claims.iat as number)).toBe(3600);

    const read = await gql(url, CUSTOMERS, {}, { token: issued.accessToken });
    expect(read.status).toBe(200);
    expect(dataOf(read).customers.nodes).toEqual(expect.any(Array));
  });

  it("refuses a wrong secret or unknown client id with one message", async () => {
    const { client, clientSecret } = await createClient(["CUSTOMERS_READ"]);
    expectInvalidCredentials(
      await gql(url, ISSUE, { id: client.clientId, secret: `${clientSecret}x` }),
    );
    expectInvalidCredentials(await gql(url, ISSUE, { id: "cli_unknown", secret: clientSecret }));
    expectInvalidCredentials(await gql(url, ISSUE, { id: client.clientId, secret: "" }));
  });

  it("the principal holds the client's current scopes, narrowed to those in the token", async () => {
    const { client, clientSecret } = await createClient(["CUSTOMERS_READ", "USERS_READ"]);
    const { accessToken } = dataOf(
      await gql(url, ISSUE, { id: client.clientId, secret: clientSecret }),
    ).issueClientToken;
    const { db } = server.app.services.database;
    // An operator narrows the client's grant (and adds one the token was never issued with).
    await db
      .update(apiClients)
      .set({ scopes: ["customers:read", "audit:read"] })
      .where(eq(apiClients.id, rowIdOf(client.id, "ApiClient")!));
    const claims = verifyAuthorization(`Bearer ${accessToken}`, server.app.services.tokens)!;
    const principal = await loadPrincipal(claims, db);
    expect(principal.kind).toBe("client");
    expect(principal.kind === "client" && [...principal.scopes]).toEqual(["customers:read"]);
  });

  it("records lastUsedAt to the minute, not on every request", async () => {
    const { client, clientSecret } = await createClient(["CUSTOMERS_READ"]);
    expect(client.lastUsedAt).toBeNull();
    const { accessToken } = dataOf(
      await gql(url, ISSUE, { id: client.clientId, secret: clientSecret }),
    ).issueClientToken;
    dataOf(await gql(url, CUSTOMERS, {}, { token: accessToken }));
    const first = await lastUsedAt(client.id);
    expect(Date.parse(first!)).toBeGreaterThan(Date.now() - 60_000);
    dataOf(await gql(url, CUSTOMERS, {}, { token: accessToken }));
    expect(await lastUsedAt(client.id)).toBe(first);
  });

  it("revocation applies to the very next request, and to new token requests", async () => {
    const { client, clientSecret } = await createClient(["CUSTOMERS_READ"]);
    const other = await createClient(["CUSTOMERS_READ"]);
    const issue = (c: { clientId: string }, secret: string) =>
      gql(url, ISSUE, { id: c.clientId, secret });
    const { accessToken } = dataOf(await issue(client, clientSecret)).issueClientToken;
    const otherToken = dataOf(await issue(other.client, other.clientSecret)).issueClientToken
      .accessToken as string;
    dataOf(await gql(url, CUSTOMERS, {}, { token: accessToken }));

    const revoked = await gql(
      url,
      `mutation($id: ID!) { revokeApiClient(id: $id) { revokedAt } }`,
      {
        id: client.id,
      },
      { token: tenant.members.ADMIN.token },
    );
    expect(dataOf(revoked).revokeApiClient.revokedAt).toBeTruthy();

    expectInvalidToken(await gql(url, CUSTOMERS, {}, { token: accessToken }));
    expectInvalidCredentials(await issue(client, clientSecret));
    // Only that client: another client of the organization keeps working.
    dataOf(await gql(url, CUSTOMERS, {}, { token: otherToken }));
  });
});
