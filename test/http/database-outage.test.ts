import { randomBytes } from "node:crypto";
import { inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents } from "../../src/db/schema.js";
import { createLogger } from "../../src/logger.js";
import { verifyChains } from "../../src/security/audit/verify.js";
import { inCI } from "../support/environment.js";
import { codesOf, gql } from "../support/graphql.js";
import { createTenant, PASSWORD, type Tenant } from "../support/fixtures.js";
import { canMakeClusters, makeCluster, type PgCluster } from "../support/pg-cluster.js";
import { launchServer, type LogLine, spawnServer } from "../support/server-process.js";
import {
  productionEnv,
  startServer,
  type TestServer,
  testTrustedKeys,
  usingPostgres,
} from "../support/server.js";

/*
 * PostgreSQL lost and back, for real: a cluster of this file's own is stopped at once (as a crash
 * or a lost host would) under a running server, which answers 503 with Retry-After, never 500,
 * says so in /readyz and its log, and serves again within a second or two of the database's
 * return. A server process killed under load leaves no answered operation without its event; one
 * that cannot reach the database at start retries for a bounded time, then exits non-zero; one
 * told to stop with events it cannot store exits non-zero. Run with the PostgreSQL suite (a
 * cluster of its own either way; once is enough).
 */

const runs = usingPostgres() && canMakeClusters;
if (usingPostgres() && !canMakeClusters && inCI) {
  throw new Error("pg_createcluster (run as root) is required in CI");
}

let cluster: PgCluster;

beforeAll(async () => {
  if (runs) cluster = await makeCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.drop();
});

const tag = () => `outage-test/${randomBytes(6).toString("hex")}`;

interface Answer {
  status: number;
  retryAfter: string | null;
  requestId: string | null;
  codes: unknown[];
}

async function send(
  target: string,
  query: string,
  options: { token?: string; ua: string; variables?: Record<string, unknown> },
): Promise<Answer> {
  const response = await gql(target, query, options.variables, {
    token: options.token,
    headers: { "user-agent": options.ua },
  });
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    requestId: response.headers.get("x-request-id"),
    codes: codesOf(response),
  };
}

describe.skipIf(!runs)("PostgreSQL unreachable", () => {
  let server: TestServer;
  let tenant: Tenant;
  const logs: LogLine[] = [];

  beforeAll(async () => {
    server = await startServer(
      { DATABASE_URL: cluster.url },
      {
        logger: createLogger("info", {
          write: (line: string) => void logs.push(JSON.parse(line) as LogLine),
        }),
      },
    );
    tenant = await createTenant(server.url, "pg-outage");
  }, 60_000);

  afterAll(async () => {
    await server?.close();
  });

  it("answers every client 503 with Retry-After, and serves again within a second or two of its return", async () => {
    const ua = tag();
    const token = tenant.members.ADMIN.token;
    await cluster.kill();

    const refused = [
      await send(server.url, "{ me { id } }", { token, ua }),
      await send(server.url, `mutation { createCustomer(input: { name: "Lost" }) { id } }`, {
        token,
        ua,
      }),
      await send(
        server.url,
        `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }`,
        { ua, variables: { e: tenant.members.AGENT.email, p: PASSWORD } },
      ),
      // reads nothing, but its event cannot be stored: not answered unaudited either
      await send(server.url, "{ __typename }", { ua }),
    ];
    for (const answer of refused) {
      expect(answer).toMatchObject({
        status: 503,
        retryAfter: "1",
        codes: ["SERVICE_UNAVAILABLE"],
      });
    }

    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ checks: { database: "unreachable" } });
    const down = logs.find((l) => l.msg === "database unreachable: operations are answered 503");
    expect(down?.cause).toMatchObject({ code: "ECONNREFUSED" });
    // the cause is named, the statements and their parameters are not
    const logged = JSON.stringify(logs);
    expect(logged).not.toContain(tenant.members.AGENT.email);
    expect(logged).not.toContain(PASSWORD);

    await cluster.start();
    const back = Date.now();
    let answer: Answer;
    do {
      answer = await send(server.url, "{ me { id } }", { token, ua });
      if (answer.status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
    } while (answer.status !== 200 && Date.now() - back < 10_000);
    const recoveredInMs = Date.now() - back;
    expect(answer.status).toBe(200);
    expect(recoveredInMs).toBeLessThan(3_000);
    console.info(`first success ${recoveredInMs} ms after PostgreSQL accepted connections again`);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    expect(logs.some((l) => l.msg === "database reachable again")).toBe(true);

    // The refused operations are recorded once the database is back, as refused.
    const ids = refused.map((r) => r.requestId!);
    await expect
      .poll(
        async () => {
          await server.app.audit.flush();
          return (
            await server.app.services.database.db
              .select()
              .from(auditEvents)
              .where(inArray(auditEvents.requestId, ids))
          ).length;
        },
        { timeout: 10_000 },
      )
      .toBe(ids.length);
    const events = await server.app.services.database.db
      .select()
      .from(auditEvents)
      .where(inArray(auditEvents.requestId, ids));
    for (const event of events) {
      expect(event.outcome).toBe("ERROR");
      expect(event.errorCodes).toContain("SERVICE_UNAVAILABLE");
    }
  }, 60_000);
});

describe.skipIf(!runs)("the server process and a lost database", () => {
  const started = (l: LogLine) => typeof l.msg === "string" && l.msg.startsWith("GraphQL API at");

  it("after a SIGKILL under load, every operation answered 200 has its audit event", async () => {
    const ua = tag();
    const instance = await spawnServer(
      productionEnv({
        DATABASE_URL: cluster.url,
        // sixteen callers as one principal: none waits for another (the load is the point)
        CONCURRENT_OPERATIONS_PER_PRINCIPAL: "32",
        CONCURRENT_OPERATIONS_PER_ORGANIZATION: "32",
      }),
    );
    const url = `http://127.0.0.1:${instance.port}`;
    const tenant = await createTenant(url, "sigkill");
    const answered: string[] = [];
    let killed = false;
    const loop = async () => {
      while (!killed) {
        try {
          const answer = await send(url, "{ me { id } organization { name } }", {
            token: tenant.members.VIEWER.token,
            ua,
          });
          if (answer.status === 200) answered.push(answer.requestId!);
        } catch {
          return; // the process is gone
        }
      }
    };
    const loops = Array.from({ length: 16 }, loop);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    instance.child.kill("SIGKILL");
    killed = true;
    await Promise.all(loops);
    await instance.exited;
    expect(answered.length).toBeGreaterThan(10); // a few hundred on a quiet machine

    // restarted: every answered request is there, and the chains verify
    const restarted = await startServer(productionEnv({ DATABASE_URL: cluster.url }));
    try {
      const db = restarted.app.services.database.db;
      const stored = new Set<string>();
      for (let i = 0; i < answered.length; i += 500) {
        const rows = await db
          .select({ requestId: auditEvents.requestId })
          .from(auditEvents)
          .where(inArray(auditEvents.requestId, answered.slice(i, i + 500)));
        for (const row of rows) stored.add(row.requestId);
      }
      expect(answered.filter((id) => !stored.has(id))).toEqual([]);
      expect(await verifyChains(db, testTrustedKeys())).toMatchObject({ intact: true });
    } finally {
      await restarted.close();
    }
  }, 90_000);

  it("a start that cannot reach the database retries, then exits non-zero naming the cause", async () => {
    await cluster.kill();
    try {
      const instance = await launchServer(
        productionEnv({ DATABASE_URL: cluster.url, DATABASE_START_TIMEOUT_SECONDS: "3" }),
      );
      const code = await instance.exited;
      expect(code).not.toBe(0);
      expect(
        instance.lines.some((l) => String(l.msg).startsWith("database not reachable at start")),
      ).toBe(true);
      const fatal = instance.lines.find((l) => l.msg === "failed to start");
      expect(fatal?.cause).toMatchObject({ code: "ECONNREFUSED" });
      expect(instance.lines.some(started)).toBe(false);
    } finally {
      await cluster.start();
    }
  }, 60_000);

  it("a start that finds the database down serves once it comes up", async () => {
    await cluster.kill();
    const instance = await launchServer(
      productionEnv({ DATABASE_URL: cluster.url, DATABASE_START_TIMEOUT_SECONDS: "60" }),
    );
    try {
      await instance.logged((l) => String(l.msg).startsWith("database not reachable at start"));
      await cluster.start();
      await instance.logged(started);
      const ready = await fetch(`http://127.0.0.1:${instance.port}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await cluster.start();
      await instance.stop();
    }
  }, 60_000);

  it("a SIGTERM that cannot store the waiting events exits non-zero, and logs them", async () => {
    const ua = tag();
    const instance = await spawnServer(
      // the events are retried for 40% of it (1.6 s), then logged
      productionEnv({ DATABASE_URL: cluster.url, SHUTDOWN_TIMEOUT_SECONDS: "4" }),
    );
    const url = `http://127.0.0.1:${instance.port}`;
    try {
      await cluster.kill();
      const answers = await Promise.all(
        Array.from({ length: 3 }, () => send(url, "{ __typename }", { ua })),
      );
      expect(answers.map((a) => a.status)).toEqual([503, 503, 503]);
      instance.child.kill("SIGTERM");
      expect(await instance.exited).not.toBe(0);
      const unwritten = instance.lines.filter(
        (l) => l.msg === "audit event not written before shutdown",
      );
      expect(unwritten).toHaveLength(3);
      expect(instance.lines.some((l) => l.msg === "shutdown failed")).toBe(true);
    } finally {
      await cluster.start();
      await instance.stop();
    }
  }, 60_000);
});
