import { randomBytes } from "node:crypto";
import { and, eq, gt, sql } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents, organizations } from "../../src/db/schema.js";
import { rowIdOf } from "../../src/graphql/ids.js";
import {
  createCustomer,
  createTenant,
  PASSWORD,
  type Tenant,
  uniqueEmail,
} from "../support/fixtures.js";
import { codesOf, dataOf, gql } from "../support/graphql.js";
import {
  sharedTestServer,
  startServer,
  type TestServer,
  usingPostgres,
} from "../support/server.js";

/*
 * Time limits. A statement that cannot finish is made real by another session holding a lock on
 * the customers table (lock contention is the everyday cause of a slow query); that needs a
 * second connection, so those tests run on PostgreSQL (CI), not on the single-session PGlite.
 * The deadline mechanism itself is covered on every driver in test/security.
 */

let tenant: Tenant;
const servers: TestServer[] = [];

beforeAll(async () => {
  const { url } = await sharedTestServer();
  tenant = await createTenant(url, "timeouts");
  await createCustomer(url, tenant.members.AGENT.token);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function server(env: Record<string, string>): Promise<TestServer> {
  const { config } = (await sharedTestServer()).app.services;
  const started = await startServer({ JWT_SECRET: config.jwt.secret, ...env });
  servers.push(started);
  return started;
}

/** Runs `during` while another session holds an exclusive lock on the customers table. */
async function whileCustomersLocked(during: () => Promise<void>): Promise<void> {
  const blocker = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
  try {
    await blocker.begin(async (tx) => {
      await tx`lock table customers in access exclusive mode`;
      await during();
    });
  } finally {
    await blocker.end({ timeout: 5 });
  }
}

const listCustomers = "{ customers { nodes { id name } } }";

describe("statement timeout", () => {
  it("is set on the server's database connections", async () => {
    const { app } = await sharedTestServer();
    const result = await app.services.database.db.execute(sql`show statement_timeout`);
    const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as {
      statement_timeout: string;
    }[];
    expect(rows[0]?.statement_timeout).toBe("5s");
  });

  it.runIf(usingPostgres())("cancels a statement that waits too long", async () => {
    const { url } = await server({ STATEMENT_TIMEOUT_MS: "300" });
    const token = tenant.members.AGENT.token;
    await whileCustomersLocked(async () => {
      // The response arrives while the lock is still held: PostgreSQL cancelled the statement.
      const res = await gql(url, listCustomers, {}, { token });
      expect(res.body.data).toEqual({ customers: null });
      expect(codesOf(res)).toEqual(["INTERNAL_SERVER_ERROR"]);
      expect(res.body.errors![0]!.message).toBe("Internal server error");
    });
    expect(dataOf(await gql(url, listCustomers, {}, { token }))).toHaveProperty("customers.nodes");
  });
});

describe("execution timeout", () => {
  it("rolls back a mutation that misses the deadline: nothing written, audited as ERROR", async () => {
    // bcrypt at cost 12 takes far longer than 50 ms: signUp is still hashing at the deadline
    const slow = await server({ EXECUTION_TIMEOUT_MS: "50", BCRYPT_ROUNDS: "12" });
    const startedAt = new Date();
    const email = uniqueEmail("late");
    const organizationName = `Late Org ${email}`;
    const res = await gql(
      slow.url,
      `mutation LateSignUp($input: SignUpInput!) { signUp(input: $input) { accessToken } }`,
      { input: { organizationName, displayName: "Late", email, password: PASSWORD } },
    );
    expect(codesOf(res)).toEqual(["EXECUTION_TIMEOUT"]);
    expect(res.body.data).toBeNull(); // signUp is non-null
    // the resolver finishes hashing after the response, and then finds no database to write to
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const { db } = slow.app.services.database;
    expect(
      await db.select().from(organizations).where(eq(organizations.name, organizationName)),
    ).toEqual([]);
    await slow.app.audit.flush();
    const events = await db
      .select({ outcome: auditEvents.outcome, errorCodes: auditEvents.errorCodes })
      .from(auditEvents)
      .where(and(eq(auditEvents.operationName, "LateSignUp"), gt(auditEvents.at, startedAt)));
    expect(events).toEqual([{ outcome: "ERROR", errorCodes: ["EXECUTION_TIMEOUT"] }]);
  });

  // PostgreSQL only: the second field waits on a row lock the test holds.
  it.runIf(usingPostgres())(
    "answers no data for a mutation rolled back at its deadline, though its first field had succeeded",
    async () => {
      const slow = await server({ EXECUTION_TIMEOUT_MS: "500" });
      const { members } = await createTenant(slow.url, "late-data");
      const token = members.AGENT.token;
      const { id } = await createCustomer(slow.url, token, { name: "Locked" });
      const name = `Never ${randomBytes(4).toString("hex")}`;
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const lockTaken = new Promise<void>((resolve) => (locked = resolve));
      const { db } = slow.app.services.database;
      const holding = db.transaction(async (tx) => {
        await tx.execute(
          sql`select 1 from customers where id = ${rowIdOf(id, "Customer")} for update`,
        );
        locked();
        await released;
      });
      await lockTaken;
      const res = await gql(
        slow.url,
        `mutation($id: ID!, $name: String!) {
          first: createCustomer(input: { name: $name }) { id }
          second: updateCustomer(id: $id, input: { name: "Renamed" }) { id }
        }`,
        { id, name },
        { token },
      );
      release();
      await holding;
      expect(codesOf(res)).toContain("EXECUTION_TIMEOUT");
      expect(res.body.data).toBeNull(); // not the id of a customer that was rolled back
      const count = await gql(
        slow.url,
        `query($n: String!) { customers(filter: { nameContains: $n }) { totalCount } }`,
        { n: name },
        { token },
      );
      expect(dataOf(count).customers.totalCount).toBe(0);
    },
    30_000,
  );

  it.runIf(usingPostgres())("answers at the deadline with EXECUTION_TIMEOUT", async () => {
    const { url } = await server({ EXECUTION_TIMEOUT_MS: "300" });
    const token = tenant.members.AGENT.token;
    await whileCustomersLocked(async () => {
      const res = await gql(url, `{ me { role } ${listCustomers.slice(1)}`, {}, { token });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({ me: { role: "AGENT" }, customers: null });
      expect(res.body.errors).toEqual([
        {
          message: "Execution exceeded the time limit of 300 ms and was stopped",
          path: ["customers"],
          locations: expect.any(Array),
          extensions: { code: "EXECUTION_TIMEOUT", requestId: expect.any(String) },
        },
      ]);
    });
    expect(dataOf(await gql(url, listCustomers, {}, { token }))).toHaveProperty("customers.nodes");
  });
});
