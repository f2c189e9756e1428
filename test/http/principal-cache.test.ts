import jwt from "jsonwebtoken";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rowIdOf } from "../../src/graphql/ids.js";
import type { PrincipalCache } from "../../src/security/principal-cache.js";
import { createApiClient } from "../support/api-clients.js";
import { freshDatabase, type FreshDatabase } from "../support/fresh-database.js";
import { startPgProxy } from "../support/pg-proxy.js";
import { createTenant, logIn, PASSWORD, type Tenant } from "../support/fixtures.js";
import { codesOf, dataOf, gql } from "../support/graphql.js";
import {
  pglite,
  sharedTestServer,
  startServer,
  startSiblingServer,
  type TestServer,
  usingPostgres,
} from "../support/server.js";

/*
 * Servers keep the principals they looked up until the database announces a change to them
 * (src/security/principal-cache.ts). Two servers share the database here, as two instances do.
 */

let here: TestServer;
let elsewhere: TestServer;
let tenant: Tenant;

beforeAll(async () => {
  here = await sharedTestServer();
  elsewhere = await startSiblingServer();
  tenant = await createTenant(here.url, "principal-cache");
});
afterAll(() => elsewhere.close());

const me = (server: TestServer, token: string) =>
  gql(server.url, `{ me { id role } }`, {}, { token });

/** Resolves once `server` has been told of `change` (by the database's announcement). */
function announced(server: TestServer, change: string): Promise<void> {
  const cache: PrincipalCache = server.app.services.principals;
  const forget = cache.forget.bind(cache);
  return new Promise((resolve) => {
    cache.forget = (heard) => {
      forget(heard);
      if (heard !== change) return;
      cache.forget = forget;
      resolve();
    };
  });
}

/** The statements `server` sends while `work` runs that look a principal up. */
async function principalLookups(server: TestServer, work: () => Promise<unknown>) {
  const seen: string[] = [];
  const stop = server.app.services.database.observe((query) => {
    if (/from "refresh_tokens"|"api_clients"\."revoked_at" is null/.test(query)) seen.push(query);
  });
  try {
    await work();
  } finally {
    stop();
  }
  return seen.length;
}

/** An operator's change to a user, made on the database past every server. */
async function changeUserOutsideAnyServer(userId: string, change: "demote" | "rename") {
  if (!usingPostgres()) {
    const db = await pglite();
    await (change === "demote"
      ? db.sql`update users set role = 'VIEWER' where id = ${userId}`
      : db.sql`update users set display_name = 'Renamed' where id = ${userId}`);
    return;
  }
  const sql = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
  try {
    await (change === "demote"
      ? sql`update users set role = 'VIEWER' where id = ${userId}`
      : sql`update users set display_name = 'Renamed' where id = ${userId}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** An operator's (or a cleanup job's) deletion of a session's refresh tokens, past every server. */
async function deleteSessionRows(sessionId: string) {
  if (!usingPostgres()) {
    await (
      await pglite()
    ).sql`delete from refresh_tokens where family_id = ${sessionId}`;
    return;
  }
  const sql = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
  try {
    await sql`delete from refresh_tokens where family_id = ${sessionId}`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

describe("principals kept between requests", () => {
  it("a token's principal is looked up once, then kept", async () => {
    const { accessToken } = await logIn(here.url, tenant.members.AGENT.email);
    expect(await principalLookups(here, () => me(here, accessToken))).toBe(1);
    expect(await principalLookups(here, () => me(here, accessToken))).toBe(0);
    expect(dataOf(await me(here, accessToken)).me.id).toBe(tenant.members.AGENT.id);
  });

  it("a session ended on another instance is refused here once the change is announced", async () => {
    const session = await logIn(here.url, tenant.members.AGENT.email);
    const other = await logIn(here.url, tenant.members.AGENT.email);
    expect(dataOf(await me(here, session.accessToken)).me.id).toBe(tenant.members.AGENT.id);
    expect(dataOf(await me(here, other.accessToken)).me.id).toBe(tenant.members.AGENT.id);
    const userId = rowIdOf(tenant.members.AGENT.id, "User")!;

    const heard = announced(here, `u:${userId}`); // a user's ended session announces the user
    const loggedOut = await gql(
      elsewhere.url,
      `mutation($t: String!) { logOut(refreshToken: $t) }`,
      {
        t: session.refreshToken,
      },
    );
    expect(loggedOut.body.errors).toBeUndefined();
    await heard;

    const refused = await me(here, session.accessToken);
    expect(refused.status).toBe(401);
    expect(codesOf(refused)).toEqual(["UNAUTHENTICATED"]);
    // the user's other session is read again, and still served
    expect(await principalLookups(here, () => me(here, other.accessToken))).toBe(1);
    expect(dataOf(await me(here, other.accessToken)).me.id).toBe(tenant.members.AGENT.id);
  });

  it("a session whose rows are deleted (even unrevoked) is refused: the check fails closed", async () => {
    const session = await logIn(here.url, tenant.members.ADMIN.email);
    const other = await logIn(here.url, tenant.members.ADMIN.email);
    for (const { accessToken } of [session, other]) {
      expect(dataOf(await me(here, accessToken)).me.id).toBe(tenant.members.ADMIN.id);
    }
    const { sid } = jwt.decode(session.accessToken) as { sid: string };
    const heard = announced(here, `u:${rowIdOf(tenant.members.ADMIN.id, "User")!}`);
    await deleteSessionRows(sid);
    await heard;
    const refused = await me(here, session.accessToken);
    expect(refused.status).toBe(401);
    expect(codesOf(refused)).toEqual(["UNAUTHENTICATED"]);
    expect((await me(elsewhere, session.accessToken)).status).toBe(401); // never kept there
    expect(dataOf(await me(here, other.accessToken)).me.id).toBe(tenant.members.ADMIN.id);
  });

  it("the instance that ends a session refuses its token on the very next request", async () => {
    for (let i = 0; i < 5; i++) {
      const session = await logIn(here.url, tenant.members.VIEWER.email);
      expect(dataOf(await me(here, session.accessToken)).me.id).toBe(tenant.members.VIEWER.id);
      const loggedOut = await gql(here.url, `mutation($t: String!) { logOut(refreshToken: $t) }`, {
        t: session.refreshToken,
      });
      expect(loggedOut.body.errors).toBeUndefined();
      expect((await me(here, session.accessToken)).status).toBe(401);
    }
  });

  it("a role changed outside any server takes effect once the database announces it", async () => {
    const own = await createTenant(here.url, "principal-role");
    const agent = own.members.AGENT;
    expect(dataOf(await me(here, agent.token)).me.role).toBe("AGENT");
    const userId = rowIdOf(agent.id, "User")!;

    const heard = announced(here, `u:${userId}`);
    await changeUserOutsideAnyServer(userId, "demote");
    await heard;

    expect(dataOf(await me(here, agent.token)).me.role).toBe("VIEWER");
    // a change that cannot narrow access is not announced: the principal stays kept
    await changeUserOutsideAnyServer(userId, "rename");
    expect(await principalLookups(here, () => me(here, agent.token))).toBe(0);
  });

  it.skipIf(!usingPostgres())(
    "a password change ends 20,000 sessions at once, and the old token is refused",
    async () => {
      const agent = (await createTenant(here.url, "principal-many")).members.AGENT;
      const userId = rowIdOf(agent.id, "User")!;
      const sql = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
      try {
        await sql`insert into refresh_tokens (id, org_id, user_id, family_id, token_hash, expires_at)
          select gen_random_uuid(), u.org_id, u.id, gen_random_uuid(), md5(random()::text || n),
            now() + interval '1 day'
          from users u, generate_series(1, 20000) n where u.id = ${userId}`;
      } finally {
        await sql.end({ timeout: 5 });
      }
      expect(dataOf(await me(here, agent.token)).me.id).toBe(agent.id);
      const changed = await gql(
        here.url,
        `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`,
        { c: PASSWORD, n: "a brand new passphrase, long enough" },
        { token: agent.token },
      );
      expect(changed.body.errors).toBeUndefined();
      expect((await me(here, agent.token)).status).toBe(401);
    },
  );

  it("an API client revoked on another instance is refused here once the change is announced", async () => {
    const partner = await createApiClient(here.url, tenant.members.ADMIN.token, ["customers:read"]);
    const list = `{ customers(first: 1) { totalCount } }`;
    expect((await gql(here.url, list, {}, { token: partner.token })).body.errors).toBeUndefined();
    const clientId = rowIdOf(partner.id, "ApiClient")!;

    const heard = announced(here, `c:${clientId}`);
    const revoked = await gql(
      elsewhere.url,
      `mutation($id: ID!) { revokeApiClient(id: $id) { id } }`,
      { id: partner.id },
      { token: tenant.members.ADMIN.token },
    );
    expect(revoked.body.errors).toBeUndefined();
    await heard;

    expect((await gql(here.url, list, {}, { token: partner.token })).status).toBe(401);
  });
});

describe.skipIf(!usingPostgres())("when the listening connection is lost", () => {
  let database: FreshDatabase;
  let server: TestServer;

  beforeAll(async () => {
    database = await freshDatabase();
    server = await startServer(database.env);
  });
  afterAll(async () => {
    await server.close();
    await database.drop();
  });

  it("every request reads the database until it listens again, and nothing kept before is trusted", async () => {
    const own = await createTenant(server.url, "principal-listener");
    const agent = own.members.AGENT;
    await me(server, agent.token);
    expect(await principalLookups(server, () => me(server, agent.token))).toBe(0);
    const cache = server.app.services.principals;
    const setListening = cache.setListening.bind(cache);
    const states: boolean[] = [];
    let lost!: () => void;
    const whenLost = new Promise<void>((resolve) => (lost = resolve));
    cache.setListening = (listening) => {
      states.push(listening);
      setListening(listening);
      if (!listening) lost();
    };
    const url = new URL(database.env.DATABASE_URL!);
    const admin = postgres(database.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    try {
      await admin`select pg_terminate_backend(pid) from pg_stat_activity
        where datname = ${url.pathname.slice(1)} and application_name = 'customer-records-api listener'`;
      await whenLost;
      // The role changes while nobody listens (or right after it listens again): either way the
      // server must not answer from what it kept before.
      await admin`update users set role = 'VIEWER' where id = ${rowIdOf(agent.id, "User")!}`;
      const lookups = await principalLookups(server, async () => {
        expect(dataOf(await me(server, agent.token)).me.role).toBe("VIEWER");
      });
      expect(lookups).toBe(1);
      await expect.poll(() => states.at(-1), { timeout: 5_000 }).toBe(true);
      await me(server, agent.token);
      expect(await principalLookups(server, () => me(server, agent.token))).toBe(0); // kept again
    } finally {
      cache.setListening = setListening;
      await admin.end({ timeout: 5 });
    }
  });

  it("a session moved to another user, and a table emptied, reach the principals kept", async () => {
    const own = await createTenant(server.url, "principal-keys");
    const [agent, viewer] = [own.members.AGENT, own.members.VIEWER];
    const partner = await createApiClient(server.url, own.members.ADMIN.token, ["customers:read"]);
    const list = `{ customers(first: 1) { totalCount } }`;
    for (const token of [agent.token, agent.token, partner.token, partner.token]) {
      expect((await gql(server.url, list, {}, { token })).status).toBe(200);
    }
    const admin = postgres(database.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    try {
      // the agent's session rows, revoked while moved to another user: the agent is announced too
      const agentId = rowIdOf(agent.id, "User")!;
      const { sid } = jwt.decode(agent.token) as { sid: string };
      const heard = announced(server, `u:${agentId}`);
      await admin`update refresh_tokens set user_id = ${rowIdOf(viewer.id, "User")!},
        revoked_at = now() where family_id = ${sid}`;
      await heard;
      expect((await me(server, agent.token)).status).toBe(401);

      const emptied = announced(server, "*");
      await admin`truncate api_clients cascade`;
      await emptied;
      expect((await gql(server.url, list, {}, { token: partner.token })).status).toBe(401);
      expect(dataOf(await me(server, viewer.token)).me.id).toBe(viewer.id); // read again, served
    } finally {
      await admin.end({ timeout: 5 });
    }
  });

  it("a listening connection gone silent (no close, no bytes) is given up within seconds", async () => {
    const target = new URL(database.env.DATABASE_URL!);
    const proxy = await startPgProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(target);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const proxied = await startServer({ DATABASE_URL: viaProxy.toString() });
    const admin = postgres(database.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    try {
      const agent = (await createTenant(proxied.url, "principal-silent")).members.AGENT;
      await me(proxied, agent.token);
      expect(await principalLookups(proxied, () => me(proxied, agent.token))).toBe(0);
      const cache = proxied.app.services.principals;
      const setListening = cache.setListening.bind(cache);
      let lost!: () => void;
      const whenLost = new Promise<void>((resolve) => (lost = resolve));
      cache.setListening = (listening) => {
        setListening(listening);
        if (!listening) lost();
      };

      expect(proxy.silence("customer-records-api listener")).toBe(1);
      // the change's notification goes into the silent connection: it never arrives
      await admin`update users set role = 'VIEWER' where id = ${rowIdOf(agent.id, "User")!}`;
      const started = Date.now();
      await whenLost;
      expect(Date.now() - started).toBeLessThan(5_000); // a round trip a second, a second for it

      expect(dataOf(await me(proxied, agent.token)).me.role).toBe("VIEWER");
    } finally {
      await admin.end({ timeout: 5 });
      await proxied.close();
      await proxy.close();
    }
  });
});
