import { GraphQLError } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capturingLogger } from "../../support/logs.js";
import { type Config, parseConfig } from "../../../src/config.js";
import { DatabaseHealth } from "../../../src/db/health.js";
import { formatError, tagWithRequestId } from "../../../src/graphql/pipeline/errors.js";
import { createTenant, type Tenant } from "../../support/fixtures.js";
import { gql } from "../../support/graphql.js";
import { productionEnv, startServer, type TestServer } from "../../support/server.js";
import { redisTestUrl } from "../../support/environment.js";

const METRICS_TOKEN = "metrics-token-0123456789-abcdefghijklmnop";
let server: TestServer;
let tenant: Tenant;
let logs: Record<string, any>[];

beforeAll(async () => {
  const capture = capturingLogger();
  logs = capture.lines;
  server = await startServer({ LOG_LEVEL: "info" }, { logger: capture.logger });
  tenant = await createTenant(server.url, "ops-endpoints");
});

afterAll(async () => {
  await server?.close();
});

async function metricsText(url: string, token?: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
  return res.text();
}

const sample = (text: string, name: string, labels: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
};

describe("health and readiness", () => {
  it("/healthz says alive; /readyz checks the database", async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: "ready",
      checks: { database: "ok", audit: "ok" },
    });
  });

  it("/readyz is 503 with each failing check's reason, and other layers can add checks", async () => {
    const other = await startServer();
    try {
      let full = false;
      other.app.readiness.add("search-index", () => (full ? "catching up" : undefined));
      expect((await fetch(`${other.url}/readyz`)).status).toBe(200);
      full = true;
      const res = await fetch(`${other.url}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        status: "unavailable",
        checks: { database: "ok", audit: "ok", "search-index": "catching up" },
      });
    } finally {
      await other.close();
    }
  });

  it.skipIf(!redisTestUrl)(
    "/readyz reports Redis when it is configured, degraded without it",
    async () => {
      const up = await startServer({ REDIS_URL: redisTestUrl });
      const down = await startServer({ REDIS_URL: "redis://127.0.0.1:1" });
      try {
        expect(await (await fetch(`${up.url}/readyz`)).json()).toEqual({
          status: "ready",
          checks: { database: "ok", audit: "ok", redis: "ok" },
        });
        // Redis is an accelerator: without it the instance serves (limits per instance)
        const res = await fetch(`${down.url}/readyz`);
        expect(res.status).toBe(200);
        const body: any = await res.json();
        expect(body.status).toBe("degraded");
        expect(body.checks.database).toBe("ok");
        expect(body.checks.redis).not.toBe("ok");
      } finally {
        await up.close();
        await down.close();
      }
    },
  );
});

describe("metrics", () => {
  it("count operations by name, type and outcome, with durations, rejections and denials", async () => {
    const viewer = tenant.members.VIEWER.token;
    await gql(server.url, "query EdgeMetricsOrg { organization { name } }", {}, { token: viewer });
    // Anonymous: the tenant-scoped field is refused with FORBIDDEN.
    await gql(server.url, "query EdgeMetricsDenied { org: organization { name } }");
    await gql(server.url, "query EdgeMetricsInvalid { nope }", {}, { token: viewer });
    await gql(server.url, "{ me { id } }", {}, { token: "not.a.token" });
    const text = await metricsText(server.url);
    expect(
      sample(
        text,
        "graphql_operations_total",
        'operation_name="EdgeMetricsOrg",operation_type="query",outcome="success"',
      ),
    ).toBe(1);
    expect(
      sample(
        text,
        "graphql_operation_duration_seconds_count",
        'operation_name="EdgeMetricsOrg",operation_type="query"',
      ),
    ).toBe(1);
    expect(
      sample(text, "graphql_authorization_denials_total", 'type="Query",field="organization"'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, "graphql_rejections_total", 'code="GRAPHQL_VALIDATION_FAILED"'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, "graphql_rejections_total", 'code="UNAUTHENTICATED"'),
    ).toBeGreaterThanOrEqual(1);
    expect(text).toContain("# TYPE graphql_operation_cost histogram");
    expect(text).toContain("process_cpu_seconds_total");
  });

  it("cap distinct operation names, so callers cannot grow the series without bound", async () => {
    const other = await startServer();
    try {
      const names = Array.from({ length: 210 }, (_, i) => `query Flood${i} { __typename }`);
      for (const query of names) await gql(other.url, query);
      const text = await metricsText(other.url);
      const series = text.split("\n").filter((l) => l.startsWith("graphql_operations_total{"));
      expect(series.length).toBeLessThanOrEqual(201);
      expect(
        sample(
          text,
          "graphql_operations_total",
          'operation_name="other",operation_type="query",outcome="success"',
        ),
      ).toBe(10);
    } finally {
      await other.close();
    }
  });

  it("production: /metrics needs METRICS_TOKEN, and does not exist without one", async () => {
    const guarded = await startServer(productionEnv({ METRICS_TOKEN }));
    const closed = await startServer(productionEnv());
    try {
      const anonymous = await fetch(`${guarded.url}/metrics`);
      expect(anonymous.status).toBe(401);
      expect(((await anonymous.json()) as any).errors[0].extensions.code).toBe("UNAUTHENTICATED");
      const wrong = await fetch(`${guarded.url}/metrics`, {
        headers: { authorization: `Bearer ${METRICS_TOKEN}x` },
      });
      expect(wrong.status).toBe(401);
      expect(await metricsText(guarded.url, METRICS_TOKEN)).toContain("http_responses_total");
      expect((await fetch(`${closed.url}/metrics`)).status).toBe(404);
    } finally {
      await guarded.close();
      await closed.close();
    }
  });
});

describe("logs and client addresses", () => {
  const completedLine = (requestId: string) =>
    logs.find((l) => l.reqId === requestId && l.msg === "incoming request");

  it("log each request with its id, path and client address, never the query string or headers", async () => {
    const secret = "very.private@person.example";
    const query = encodeURIComponent("query($e: String!) { __type(name: $e) { name } }");
    const variables = encodeURIComponent(JSON.stringify({ e: secret }));
    const res = await fetch(`${server.url}/graphql?query=${query}&variables=${variables}`, {
      headers: {
        "apollo-require-preflight": "1",
        authorization: `Bearer ${tenant.members.VIEWER.token}`,
      },
    });
    expect(res.status).toBe(200);
    const line = completedLine(res.headers.get("x-request-id")!);
    expect(line?.req).toEqual({ method: "GET", path: "/graphql", remoteAddress: "127.0.0.1" });
    const all = JSON.stringify(logs);
    expect(all).not.toContain(secret);
    expect(all).not.toContain(tenant.members.VIEWER.token);
  });

  it("ignore X-Forwarded-For by default, and honour it from a trusted proxy", async () => {
    const forwarded = { "x-forwarded-for": "203.0.113.7" };
    const direct = await fetch(`${server.url}/healthz`, { headers: forwarded });
    expect(completedLine(direct.headers.get("x-request-id")!)?.req.remoteAddress).toBe("127.0.0.1");

    const capture = capturingLogger();
    const behindProxy = await startServer(
      { LOG_LEVEL: "info", TRUST_PROXY: "127.0.0.1" },
      { logger: capture.logger },
    );
    try {
      const res = await fetch(`${behindProxy.url}/healthz`, { headers: forwarded });
      const id = res.headers.get("x-request-id");
      const line = capture.lines.find((l) => l.reqId === id && l.msg === "incoming request");
      expect(line?.req.remoteAddress).toBe("203.0.113.7");
    } finally {
      await behindProxy.close();
    }
  });
});

describe("masking unexpected errors", () => {
  const formatWith = (config: Config, logger = capturingLogger().logger) =>
    formatError(config, logger, new DatabaseHealth(() => Promise.resolve(), logger));
  const unexpected = () => {
    const cause = new Error('relation "customers" does not exist at /srv/app/db.ts:42');
    return new GraphQLError(cause.message, { originalError: cause, path: ["customers"] });
  };

  it("production: a generic message and code for the client, the detail in the server log", () => {
    const { config } = parseConfig(productionEnv());
    const capture = capturingLogger();
    const formatted = formatWith(config, capture.logger)(
      {
        message: unexpected().message,
        path: ["customers"],
        extensions: { code: "INTERNAL_SERVER_ERROR", stacktrace: ["at x"] },
      },
      unexpected(),
    );
    expect(formatted).toEqual({
      message: "Internal server error",
      path: ["customers"],
      extensions: { code: "INTERNAL_SERVER_ERROR", requestId: undefined },
    });
    expect(JSON.stringify(capture.lines)).toContain('relation \\"customers\\" does not exist');
  });

  it("development: the detail stays visible to the developer", () => {
    const { config } = parseConfig({ NODE_ENV: "development", DATA_DIR: "/tmp/edge-dev-secrets" });
    const formatted = formatWith(config)(
      { message: unexpected().message, extensions: { code: "INTERNAL_SERVER_ERROR" } },
      unexpected(),
    );
    expect(formatted.message).toContain("does not exist");
  });

  it("names the request an error was tagged with, also through Apollo's wrapper; a frozen error stays untagged", () => {
    const { config } = parseConfig(productionEnv());
    const format = formatWith(config);
    const forbidden = { message: "Forbidden", extensions: { code: "FORBIDDEN" } };
    const tagged = new GraphQLError("Forbidden");
    tagWithRequestId(tagged, "req-1");
    expect(format(forbidden, tagged).extensions).toEqual({ code: "FORBIDDEN", requestId: "req-1" });
    // a failed context that threw a plain Error reaches formatError wrapped by Apollo
    const cause = new Error("database unreachable");
    tagWithRequestId(cause, "req-2");
    const wrapped = new GraphQLError("Context creation failed", { originalError: cause });
    expect(format(forbidden, wrapped).extensions?.requestId).toBe("req-2");
    const frozen = Object.freeze(new GraphQLError("Forbidden"));
    expect(() => tagWithRequestId(frozen, "req-3")).not.toThrow();
    expect(format(forbidden, frozen).extensions?.requestId).toBeUndefined();
  });
});
