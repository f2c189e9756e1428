import { randomBytes } from "node:crypto";
import { and, arrayContains, count, eq, sql } from "drizzle-orm";
import { auditEvents } from "../../src/db/schema.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rowIdOf } from "../../src/graphql/ids.js";
import { createCustomer, createTenant, PASSWORD, uniqueEmail } from "../support/fixtures.js";
import { codesOf, dataOf, gql, type GraphQLResponse } from "../support/graphql.js";
import {
  sharedTestServer,
  startSiblingServer,
  type TestServer,
  usingPostgres,
} from "../support/server.js";

/*
 * One tenant cannot take the service from another (BEHAVIOUR.md "Isolation"): no connection is
 * held while the process hashes, concurrent operations are bounded per principal and per
 * organization, and nothing is free. Every interleaving is forced (a row lock the test holds, a
 * password hasher seen busy), never hoped for.
 */

const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** A server of its own that knows the shared one's tenants (made there), closed after the file. */
async function server(env: Record<string, string>): Promise<TestServer> {
  const started = await startSiblingServer(env);
  servers.push(started);
  return started;
}

let shared: TestServer;
beforeAll(async () => {
  shared = await sharedTestServer();
});

const ME = "{ me { id } }";

function expectRateLimited(res: GraphQLResponse): void {
  expect(res.status).toBe(429);
  expect(codesOf(res)).toEqual(["RATE_LIMITED"]);
  expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
}

/** Tracks whether a request has been answered yet. */
function track<T>(promise: Promise<T>) {
  const tracked = { settled: false, promise };
  void promise.finally(() => (tracked.settled = true));
  return tracked;
}

describe("no database connection is held while the process hashes", () => {
  // One connection in all (PGlite has only one anyway), one hash at a time, a hash of about a
  // second: if a mutation held its connection while hashing, nobody else could read meanwhile.
  let narrow: TestServer;
  beforeAll(async () => {
    narrow = await server({
      DATABASE_POOL_SIZE: "1",
      PASSWORD_HASH_CONCURRENCY: "1",
      BCRYPT_ROUNDS: "14",
    });
  });

  const hashing = () => narrow.app.services.passwords.load.running;

  async function whileHashing(send: () => Promise<GraphQLResponse>) {
    const other = await createTenant(shared.url, "bystander");
    expect(hashing()).toBe(0);
    const mutation = track(send());
    await expect.poll(hashing, { timeout: 10_000, interval: 10 }).toBe(1);
    // the other tenant's read and write are answered while the mutation is still hashing
    const read = await gql(narrow.url, ME, {}, { token: other.members.VIEWER.token });
    expect(dataOf(read).me).toEqual({ id: other.members.VIEWER.id });
    const write = await gql(
      narrow.url,
      `mutation { createCustomer(input: { name: "Written meanwhile" }) { id } }`,
      {},
      { token: other.members.AGENT.token },
    );
    expect(dataOf(write).createCustomer).toHaveProperty("id");
    expect(mutation.settled).toBe(false);
    expect(hashing()).toBe(1);
    return mutation.promise;
  }

  it("createUser hashes before it opens its transaction", async () => {
    const { members } = await createTenant(shared.url, "hasher");
    const created = await whileHashing(() =>
      gql(
        narrow.url,
        `mutation($input: CreateUserInput!) { createUser(input: $input) { id } }`,
        {
          input: {
            displayName: "New",
            email: uniqueEmail("new"),
            password: PASSWORD,
            role: "VIEWER",
          },
        },
        { token: members.ADMIN.token },
      ),
    );
    expect(dataOf(created).createUser).toHaveProperty("id");
  }, 60_000);

  it("logIn compares the password before it writes the session", async () => {
    const { members } = await createTenant(shared.url, "login");
    const signedIn = await whileHashing(() =>
      gql(
        narrow.url,
        `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }`,
        { e: members.AGENT.email, p: PASSWORD },
      ),
    );
    expect(dataOf(signedIn).logIn).toHaveProperty("accessToken");
  }, 60_000);

  it("signUp hashes before it creates the organization", async () => {
    const signedUp = await whileHashing(() =>
      gql(narrow.url, `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`, {
        input: {
          organizationName: "Hashing first",
          displayName: "Admin",
          email: uniqueEmail("signup"),
          password: PASSWORD,
        },
      }),
    );
    expect(dataOf(signedUp).signUp).toHaveProperty("accessToken");
  }, 60_000);

  it("changePassword verifies and hashes before it writes", async () => {
    const { members } = await createTenant(shared.url, "change");
    const changed = await whileHashing(() =>
      gql(
        narrow.url,
        `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`,
        { c: PASSWORD, n: "a brand new passphrase" },
        { token: members.VIEWER.token },
      ),
    );
    expect(dataOf(changed).changePassword).toBe(true);
  }, 60_000);
});

describe("credential mutations come first in their operation", () => {
  const createUser = (alias: string) =>
    `${alias}: createUser(input: { displayName: "X", email: "${uniqueEmail(alias)}", password: "${PASSWORD}", role: VIEWER }) { id }`;
  const createCustomerField = `c: createCustomer(input: { name: "Alongside" }) { id }`;

  it("refuses a credential mutation after a write, and two in one operation", async () => {
    const { members } = await createTenant(shared.url, "first");
    const token = members.ADMIN.token;
    for (const document of [
      `mutation { ${createCustomerField} ${createUser("u")} }`,
      `mutation { ${createUser("u1")} ${createUser("u2")} }`,
      // hidden in a fragment, still after the write
      `mutation { ${createCustomerField} ...F } fragment F on Mutation { ${createUser("u")} }`,
      `mutation { ${createCustomerField} logIn(email: "a@b.example", password: "whatever it is") { accessToken } }`,
    ]) {
      const res = await gql(shared.url, document, {}, { token });
      expect(res.status).toBe(400);
      expect(codesOf(res)).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
      expect(res.body.errors![0]!.message).toMatch(/must be the first and only field of its kind/);
    }
    // nothing of the refused documents ran
    const count = await gql(shared.url, "{ customers { totalCount } }", {}, { token });
    expect(dataOf(count).customers.totalCount).toBe(0);
  });

  it("runs a credential mutation first, followed by other writes", async () => {
    const { members } = await createTenant(shared.url, "first-ok");
    const res = await gql(
      shared.url,
      `mutation { __typename ${createUser("u")} ${createCustomerField} }`,
      {},
      { token: members.ADMIN.token },
    );
    expect(res.body.errors).toBeUndefined();
    expect(dataOf(res).u).toHaveProperty("id");
    expect(dataOf(res).c).toHaveProperty("id");
  });
});

describe("fair shares of concurrent operations", () => {
  /**
   * Holds a lock on a customer row from a connection of the test's own, so that mutations of
   * that row wait in the database (each holding its operation's slot) until release().
   */
  async function lockRow(customerId: string) {
    const rowId = rowIdOf(customerId, "Customer")!;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const taken = new Promise<void>((resolve) => (locked = resolve));
    const holding = shared.app.services.database.db.transaction(async (tx) => {
      await tx.execute(sql`select 1 from customers where id = ${rowId} for update`);
      locked();
      await released;
    });
    await taken;
    return async () => {
      release();
      await holding;
    };
  }

  const rename = (id: string, token: string, url: string) =>
    gql(
      url,
      `mutation($id: ID!) { updateCustomer(id: $id, input: { name: "Renamed" }) { name } }`,
      { id },
      { token },
    );

  /** Backends of one server (by its application_name) waiting on a lock. */
  const waitingOnLocks = async (app: string) => {
    const rows = await shared.app.services.database.db.execute(
      sql`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and application_name = ${app}`,
    );
    return (rows as { n: number }[])[0]!.n;
  };
  const appName = () => `isolation-${randomBytes(4).toString("hex")}`;
  const withApplicationName = (app: string) => {
    const url = new URL(process.env.DATABASE_URL!);
    url.searchParams.set("application_name", app);
    return url.toString();
  };

  // PostgreSQL only: on PGlite a row lock held by the test would hold the only connection.
  it.skipIf(!usingPostgres())(
    "past its share a principal, then its organization, is refused; another tenant is not, and cuts the first back",
    async () => {
      const app = appName();
      const bounded = await server({
        DATABASE_URL: withApplicationName(app),
        CONCURRENT_OPERATIONS_PER_PRINCIPAL: "2",
        CONCURRENT_OPERATIONS_PER_ORGANIZATION: "4",
        CONCURRENCY_WAIT_MS: "0",
      });
      const a = await createTenant(shared.url, "busy");
      const b = await createTenant(shared.url, "neighbour");
      const { id } = await createCustomer(shared.url, a.members.ADMIN.token);
      const unlock = await lockRow(id);
      const held = [
        track(rename(id, a.members.AGENT.token, bounded.url)),
        track(rename(id, a.members.AGENT.token, bounded.url)),
      ];
      try {
        await expect.poll(() => waitingOnLocks(app), { timeout: 10_000, interval: 20 }).toBe(2);
        // the agent holds its 2: its next operation is refused at once
        expectRateLimited(await gql(bounded.url, ME, {}, { token: a.members.AGENT.token }));
        // alone, the organization may run 4: the admin takes the other two
        held.push(track(rename(id, a.members.ADMIN.token, bounded.url)));
        held.push(track(rename(id, a.members.ADMIN.token, bounded.url)));
        await expect.poll(() => waitingOnLocks(app), { timeout: 10_000, interval: 20 }).toBe(4);
        expectRateLimited(await gql(bounded.url, ME, {}, { token: a.members.VIEWER.token }));
        // another organization is served at once, and from now on each has 2
        expect(
          dataOf(await gql(bounded.url, ME, {}, { token: b.members.VIEWER.token })).me,
        ).toEqual({ id: b.members.VIEWER.id });
        const share = { principal: "x", organization: rowIdOf(a.orgId, "Organization") };
        expect(bounded.app.services.fairShare.usage(share)).toMatchObject({ tenant: 4, share: 2 });
        expect(held.every((h) => !h.settled)).toBe(true);
      } finally {
        await unlock();
      }
      for (const h of held) expect(dataOf(await h.promise).updateCustomer.name).toBe("Renamed");
      // slots are given back: the agent runs again
      expect(dataOf(await gql(bounded.url, ME, {}, { token: a.members.AGENT.token })).me).toEqual({
        id: a.members.AGENT.id,
      });
    },
    60_000,
  );

  it.skipIf(!usingPostgres())(
    "an operation over its share waits its turn and is served when a slot frees",
    async () => {
      const app = appName();
      const patient = await server({
        DATABASE_URL: withApplicationName(app),
        CONCURRENT_OPERATIONS_PER_PRINCIPAL: "1",
        CONCURRENCY_WAIT_MS: "20000",
      });
      const { members, orgId } = await createTenant(shared.url, "queue");
      const { id } = await createCustomer(shared.url, members.ADMIN.token);
      const unlock = await lockRow(id);
      const first = track(rename(id, members.AGENT.token, patient.url));
      let queued;
      try {
        await expect.poll(() => waitingOnLocks(app), { timeout: 10_000, interval: 20 }).toBe(1);
        queued = track(gql(patient.url, ME, {}, { token: members.AGENT.token }));
        const keys = {
          principal: `user:${rowIdOf(members.AGENT.id, "User")}`,
          organization: rowIdOf(orgId, "Organization"),
        };
        await expect
          .poll(() => patient.app.services.fairShare.usage(keys).waiting, { timeout: 5_000 })
          .toBe(1);
        expect(queued.settled).toBe(false);
      } finally {
        await unlock();
      }
      expect(dataOf(await first.promise).updateCustomer.name).toBe("Renamed");
      expect(dataOf(await queued.promise).me).toEqual({ id: members.AGENT.id });
    },
    60_000,
  );

  it("an anonymous address has a share too (logIns waiting for the hasher hold it)", async () => {
    const anonymous = await server({
      CONCURRENT_OPERATIONS_PER_PRINCIPAL: "2",
      CONCURRENCY_WAIT_MS: "0",
      PASSWORD_HASH_CONCURRENCY: "1",
      BCRYPT_ROUNDS: "14",
      // two cost-14 hashes one after the other: on a busy machine past the 10 s default, and the
      // execution limit is not what this is about
      EXECUTION_TIMEOUT_MS: "60000",
    });
    const logIn = () =>
      gql(
        anonymous.url,
        `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }`,
        { e: uniqueEmail("nobody"), p: "not the password at all" },
      );
    const held = [track(logIn()), track(logIn())];
    const load = () => anonymous.app.services.passwords.load;
    await expect.poll(load, { timeout: 10_000, interval: 10 }).toEqual({ running: 1, waiting: 1 });
    expectRateLimited(await gql(anonymous.url, "{ __typename }"));
    expect(held.every((h) => !h.settled)).toBe(true);
    for (const h of held) expect(codesOf(await h.promise)).toEqual(["UNAUTHENTICATED"]);
    expect(dataOf(await gql(anonymous.url, "{ __typename }")).__typename).toBe("Query");
  }, 60_000);
});

describe("fair shares of the database pool", () => {
  // PostgreSQL only: a pool of 4 connections, and statements that wait on a row lock the test
  // holds. A tenant alone may use the whole pool; once another is active, half of it: its third
  // and fourth waiting statements wait for a slot, not on a connection, and the other tenant's
  // reads find a free connection.
  it.skipIf(!usingPostgres())(
    "a tenant alone uses the pool; with another active it keeps to its half",
    async () => {
      const app = `pool-share-${randomBytes(4).toString("hex")}`;
      const url = new URL(process.env.DATABASE_URL!);
      url.searchParams.set("application_name", app);
      const narrow = await server({
        DATABASE_URL: url.toString(),
        DATABASE_POOL_SIZE: "4",
        CONCURRENT_OPERATIONS_PER_PRINCIPAL: "8",
        CONCURRENT_OPERATIONS_PER_ORGANIZATION: "8",
      });
      const a = await createTenant(shared.url, "pool-hog");
      const b = await createTenant(shared.url, "pool-neighbour");
      const { id } = await createCustomer(shared.url, a.members.ADMIN.token);
      const rowId = rowIdOf(id, "Customer")!;
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const lockTaken = new Promise<void>((resolve) => (locked = resolve));
      const holding = shared.app.services.database.db.transaction(async (tx) => {
        await tx.execute(sql`select 1 from customers where id = ${rowId} for update`);
        locked();
        await released;
      });
      await lockTaken;
      const waiting = async () => {
        const rows = await shared.app.services.database.db.execute(
          sql`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and application_name = ${app}`,
        );
        return (rows as { n: number }[])[0]!.n;
      };
      const rename = () =>
        gql(
          narrow.url,
          `mutation($id: ID!) { updateCustomer(id: $id, input: { name: "Hog" }) { name } }`,
          { id },
          { token: a.members.AGENT.token },
        );
      const held = [track(rename()), track(rename())];
      try {
        await expect.poll(waiting, { timeout: 10_000, interval: 20 }).toBe(2);
        // the other tenant becomes active: from now on each has 2 of the 4 connections
        expect(dataOf(await gql(narrow.url, ME, {}, { token: b.members.VIEWER.token })).me).toEqual(
          { id: b.members.VIEWER.id },
        );
        held.push(track(rename()), track(rename()));
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(await waiting()).toBe(2); // the hog's third and fourth wait for a slot of its own
        for (let i = 0; i < 3; i++) {
          const read = await gql(
            narrow.url,
            `{ customers(first: 5) { totalCount } }`,
            {},
            {
              token: b.members.AGENT.token,
            },
          );
          expect(dataOf(read).customers.totalCount).toBe(0);
        }
        expect(held.every((h) => !h.settled)).toBe(true);
      } finally {
        release();
        await holding;
      }
      for (const h of held) expect(dataOf(await h.promise).updateCustomer.name).toBe("Hog");
    },
    60_000,
  );
});

describe("nothing is free", () => {
  const costOf = (res: GraphQLResponse) =>
    res.body.extensions?.cost as { requestedQueryCost: number; actualQueryCost: number };

  it("a query costs at least 1 point and a mutation at least 10, whatever they select", async () => {
    const { members } = await createTenant(shared.url, "free");
    const token = members.VIEWER.token;
    const query = await gql(shared.url, "{ __typename }", {}, { token });
    expect(costOf(query)).toMatchObject({ requestedQueryCost: 1, actualQueryCost: 1 });
    const mutation = await gql(shared.url, "mutation { __typename }", {}, { token });
    expect(dataOf(mutation).__typename).toBe("Mutation");
    expect(costOf(mutation)).toMatchObject({ requestedQueryCost: 10, actualQueryCost: 10 });
  });

  it("an anonymous address runs its burst of free-looking operations, then is refused", async () => {
    const small = await server({
      ANONYMOUS_BUDGET_POINTS: "20",
      ANONYMOUS_BUDGET_RESTORE_PER_SECOND: "1",
    });
    const answers: number[] = [];
    for (let i = 0; i < 25; i++) answers.push((await gql(small.url, "{ __typename }")).status);
    expect(answers.slice(0, 20).every((s) => s === 200)).toBe(true);
    expect(answers.slice(21)).toEqual([429, 429, 429, 429]);
    // a malformed document costs its point too: it cannot be used to flood for free
    const fresh = await server({
      ANONYMOUS_BUDGET_POINTS: "3",
      ANONYMOUS_BUDGET_RESTORE_PER_SECOND: "1",
    });
    const malformed = [];
    for (let i = 0; i < 5; i++) malformed.push((await gql(fresh.url, "{ __typename")).status);
    expect(malformed).toEqual([400, 400, 400, 429, 429]);
  });

  it("holds a refusal for up to a second, so a flood waits on each of its connections", async () => {
    const held = await server({
      ANONYMOUS_BUDGET_POINTS: "1",
      ANONYMOUS_BUDGET_RESTORE_PER_SECOND: "1",
      RATE_LIMIT_HOLD_MS: "1000", // the default (the test servers answer at once)
    });
    const { members } = await createTenant(shared.url, "held");
    expect((await gql(held.url, "{ __typename }")).status).toBe(200);
    const started = performance.now();
    const refused = gql(held.url, "{ __typename }");
    // meanwhile another caller is answered at once
    expect(dataOf(await gql(held.url, ME, {}, { token: members.VIEWER.token })).me).toEqual({
      id: members.VIEWER.id,
    });
    expect(performance.now() - started).toBeLessThan(900);
    expectRateLimited(await refused);
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("bad tokens and refused mutations pay too, and are then refused at the door, never into debt", async () => {
    const small = await server({
      ANONYMOUS_BUDGET_POINTS: "5",
      ANONYMOUS_BUDGET_RESTORE_PER_SECOND: "1",
      BUDGET_POINTS: "100",
      BUDGET_RESTORE_PER_SECOND: "1",
    });
    // a bad token pays as the anonymous caller of its address: one point each
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      statuses.push(
        (await gql(small.url, "{ __typename }", {}, { token: "bad.token.here" })).status,
      );
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const refused = await gql(small.url, "{ __typename }");
    expectRateLimited(refused);
    // the budget is empty, not in debt: a point is back within a second or two, not hours
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(2);
    await expect
      .poll(async () => (await gql(small.url, "{ __typename }")).status, { timeout: 5_000 })
      .toBe(200);
    // a mutation refused by validation pays a mutation's 10 points
    const { members } = await createTenant(shared.url, "refused-mutation");
    const token = members.VIEWER.token;
    const before = (await gql(small.url, "{ __typename }", {}, { token })).body.extensions
      ?.cost as {
      throttleStatus: { currentlyAvailable: number };
    };
    const invalid = await gql(small.url, "mutation { nope }", {}, { token });
    expect(codesOf(invalid)).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
    const after = (await gql(small.url, "{ __typename }", {}, { token })).body.extensions?.cost as {
      throttleStatus: { currentlyAvailable: number };
    };
    // 10 for the refused mutation and 1 for this query, give or take the restore meanwhile
    const spent =
      before.throttleStatus.currentlyAvailable - after.throttleStatus.currentlyAvailable;
    expect(spent).toBeGreaterThanOrEqual(10);
    expect(spent).toBeLessThanOrEqual(11);
  });

  it("an empty budget is refused before the principal is loaded", async () => {
    const small = await server({ BUDGET_POINTS: "5", BUDGET_RESTORE_PER_SECOND: "1" });
    const { members } = await createTenant(shared.url, "empty");
    const token = members.VIEWER.token;
    for (let i = 0; i < 5; i++) expect((await gql(small.url, ME, {}, { token })).status).toBe(200);
    const statements: string[] = [];
    const stop = small.app.services.database.observe((query) => statements.push(query));
    try {
      for (let i = 0; i < 10; i++) expectRateLimited(await gql(small.url, ME, {}, { token }));
    } finally {
      stop();
    }
    expect(statements.filter((q) => /from "users"/.test(q))).toEqual([]);
    // and each refusal is still recorded, as the user the token names
    await small.app.audit.flush();
    const { db } = small.app.services.database;
    const [refusals] = await db
      .select({ n: count() })
      .from(auditEvents)
      .where(
        and(
          eq(auditEvents.actorId, rowIdOf(members.VIEWER.id, "User")!),
          arrayContains(auditEvents.errorCodes, ["RATE_LIMITED"]),
        ),
      );
    expect(refusals!.n).toBe(10);
  });
});

describe("a tenant's ordinary burst is served", () => {
  it("20 concurrent reads of one user all succeed, queued behind its share", async () => {
    const { members } = await createTenant(shared.url, "burst");
    const burst = await Promise.all(
      Array.from({ length: 20 }, () => gql(shared.url, ME, {}, { token: members.AGENT.token })),
    );
    expect(burst.map((r) => r.status)).toEqual(Array(20).fill(200));
  });
});
