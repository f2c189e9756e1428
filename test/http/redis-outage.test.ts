import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, logIn, type Tenant } from "../support/fixtures.js";
import { inCI } from "../support/environment.js";
import { dataOf, gql } from "../support/graphql.js";
import { freePort } from "../support/server-process.js";
import { startServer, type TestServer } from "../support/server.js";

/*
 * Redis is an accelerator: a Redis of this test's own is stopped under a running server, which
 * must go on serving (limits per instance, logIn as usual) and say it is degraded without
 * leaving the load balancer's rotation; when Redis is back, so is the shared state.
 */

const REDIS_SERVER = "/usr/bin/redis-server";
const available = existsSync(REDIS_SERVER);
if (!available && inCI) throw new Error("redis-server is required in CI");

let port: number;
let redis: ChildProcess | undefined;
let server: TestServer;
let tenant: Tenant;

const spawnRedis = () =>
  spawn(
    REDIS_SERVER,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );

/** Waits until the server reports Redis in use. */
async function redisAnswers(): Promise<void> {
  for (let waited = 0; (await readyz()).body.checks.redis !== "ok"; waited += 100) {
    if (waited > 10_000) throw new Error("the server did not see Redis come up");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function stopRedis(): Promise<void> {
  const exited = new Promise((resolve) => redis!.once("exit", resolve));
  redis!.kill("SIGKILL");
  await exited;
  redis = undefined;
}

async function readyz() {
  const response = await fetch(`${server.url}/readyz`);
  return { status: response.status, body: (await response.json()) as any };
}

describe.skipIf(!available)("Redis unreachable", () => {
  beforeAll(async () => {
    port = await freePort();
    redis = spawnRedis();
    server = await startServer({
      REDIS_URL: `redis://127.0.0.1:${port}`,
      REDIS_KEY_PREFIX: `outage-${randomBytes(4).toString("hex")}:`,
      // a logIn stuck behind Redis would end in EXECUTION_TIMEOUT rather than pass slowly
      EXECUTION_TIMEOUT_MS: "1500",
    });
    await redisAnswers();
    tenant = await createTenant(server.url, "redis-outage");
  });

  afterAll(async () => {
    if (redis) await stopRedis();
    await server?.close();
  });

  it("serves on: logIn and reads work, and /readyz stays 200 saying it is degraded", async () => {
    await stopRedis();
    await expect
      .poll(() => readyz().then((r) => r.body.checks.redis), { timeout: 5_000 })
      .not.toBe("ok");
    const { status, body } = await readyz();
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "degraded", checks: { database: "ok" } });

    for (let i = 0; i < 3; i++) {
      const session = await logIn(server.url, tenant.members.AGENT.email);
      expect(session.accessToken).toBeTruthy();
      const me = await gql(server.url, `{ me { id } }`, {}, { token: session.accessToken });
      expect(dataOf(me).me).toEqual({ id: tenant.members.AGENT.id });
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('readiness_check_ok{check="redis"} 0');
    expect(metrics).toContain('readiness_check_ok{check="database"} 1');
  });

  it("is ready again, with Redis in use, once Redis is back", async () => {
    redis = spawnRedis();
    await redisAnswers();
    const { status, body } = await readyz();
    expect(status).toBe(200);
    expect(body.status).toBe("ready");
    expect((await logIn(server.url, tenant.members.AGENT.email)).accessToken).toBeTruthy();
  });
});
