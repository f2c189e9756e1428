import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import { tracingRequested } from "../../../src/telemetry/settings.js";
import { createCustomer, createTenant } from "../../support/fixtures.js";
import { gql } from "../../support/graphql.js";
import { type OtlpReceiver, startOtlpReceiver } from "../../support/otlp-receiver.js";
import { type ServerProcess, spawnServer } from "../../support/server-process.js";

/*
 * OpenTelemetry tracing, end to end: the real process (src/main.ts) exports its spans to a local
 * OTLP/HTTP receiver. Opt-in by the standard OTEL_* variables; without them nothing is sent.
 */

const started: { stop(): Promise<void> }[] = [];
afterAll(async () => {
  for (const s of started.reverse()) await s.stop();
});

async function receiver(options: { hang?: boolean } = {}): Promise<OtlpReceiver> {
  const r = await startOtlpReceiver(options);
  started.push({ stop: () => r.close() });
  return r;
}

async function server(env: Record<string, string>): Promise<ServerProcess> {
  const s = await spawnServer({ BCRYPT_ROUNDS: "4", ...env });
  started.push(s);
  return s;
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

/** A POST whose body is sent in two parts, 200 ms apart. */
function postInPieces(
  url: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<{ status: number; requestId: string }> {
  const text = JSON.stringify(body);
  const half = Math.floor(text.length / 2);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${url}/graphql`,
      {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": text.length, ...headers },
      },
      (response) => {
        response.resume().on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            requestId: String(response.headers["x-request-id"]),
          }),
        );
      },
    );
    request.on("error", reject);
    request.write(text.slice(0, half));
    setTimeout(() => request.end(text.slice(half)), 200);
  });
}

const CUSTOMER_LIST = `query CustomerList { customers(first: 10) { nodes { id name taxId } } }`;

describe("tracing on (OTEL_EXPORTER_OTLP_ENDPOINT set)", () => {
  it(
    "exports a span per request and per operation, follows traceparent, and logs the trace id",
    { timeout: 180_000 },
    async () => {
      const collector = await receiver();
      const api = await server({
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_BSP_SCHEDULE_DELAY: "100",
        OTEL_SERVICE_NAME: "records-under-test",
        BATCH_LIMIT: "2", // off by default
      });
      const url = `http://127.0.0.1:${api.port}`;
      const tenant = await createTenant(url, "tracing");
      await createCustomer(url, tenant.members.ADMIN.token, { taxId: "987-65-4321" });
      await createCustomer(url, tenant.members.ADMIN.token, { taxId: "987-65-4322" });

      // An AGENT may list customers but not read their tax ids (ACCESS.md): a partial response.
      const traceId = hex(16);
      const parentSpanId = hex(8);
      const agent = tenant.members.AGENT.token;
      const response = await gql(
        url,
        CUSTOMER_LIST,
        {},
        { token: agent, headers: { traceparent: `00-${traceId}-${parentSpanId}-01` } },
      );
      expect(response.status).toBe(200);
      expect(response.body.errors?.map((e) => e.extensions?.code)).toEqual([
        "FORBIDDEN",
        "FORBIDDEN",
      ]);
      const requestId = response.headers.get("x-request-id");

      const httpSpan = await collector.waitForSpan(
        (s) => s.traceId === traceId && s.kind === 2, // SERVER
      );
      expect(httpSpan.parentSpanId).toBe(parentSpanId);
      expect(httpSpan.name).toBe("POST /graphql");
      expect(httpSpan.attributes).toMatchObject({
        "http.request.method": "POST",
        "http.route": "/graphql",
        "http.response.status_code": 200,
      });
      expect(httpSpan.resource["service.name"]).toBe("records-under-test");

      const operationSpan = await collector.waitForSpan(
        (s) => s.traceId === traceId && s.parentSpanId === httpSpan.spanId,
      );
      expect(operationSpan.name).toBe("query CustomerList");
      expect(operationSpan.attributes).toMatchObject({
        "graphql.operation.type": "query",
        "graphql.operation.name": "CustomerList",
        "graphql.operation.outcome": "partial",
        "graphql.error.codes": ["FORBIDDEN"],
        "graphql.operation.cost.requested": expect.any(Number),
        "graphql.operation.cost.actual": expect.any(Number),
      });
      expect(operationSpan.attributes["graphql.operation.cost.actual"]).toBe(
        (response.body.extensions?.cost as { actualQueryCost: number }).actualQueryCost,
      );
      // One event for the refused field, by coordinate; no path, no value.
      expect(operationSpan.events).toEqual([
        {
          name: "graphql.authorization.denied",
          attributes: {
            "graphql.field.coordinate": "Customer.taxId",
            "graphql.error.code": "FORBIDDEN",
            "graphql.denial.count": 2,
          },
        },
      ]);

      // Nothing a caller sent or the database holds reaches the collector: no token, no
      // document, no personal data (tax ids, emails, the password), no request ids' values.
      const exported = collector.bodies.join("\n");
      for (const secret of [
        agent,
        tenant.members.ADMIN.token,
        "987-65-432",
        tenant.members.AGENT.email,
        "correct horse",
        "taxId }",
      ]) {
        expect(exported).not.toContain(secret);
      }

      // Every log line of that request carries its trace id.
      await api.logged((l) => l.reqId === requestId && l.msg === "request completed");
      const requestLines = api.lines.filter((l) => l.reqId === requestId);
      expect(requestLines.length).toBeGreaterThanOrEqual(2);
      for (const line of requestLines) expect(line.trace_id).toBe(traceId);

      // A request without traceparent starts a trace of its own.
      const own = await gql(url, `query { __typename }`, {}, { token: agent });
      const ownId = own.headers.get("x-request-id");
      const ownLine = await api.logged((l) => l.reqId === ownId && l.msg === "request completed");
      expect(ownLine.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(ownLine.trace_id).not.toBe(traceId);
      await collector.waitForSpan((s) => s.traceId === ownLine.trace_id && s.kind === 2);

      // Each operation of a batch has a span of its own, under the request's.
      const batchTrace = hex(16);
      const batch = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          traceparent: `00-${batchTrace}-${hex(8)}-01`,
        },
        body: JSON.stringify([
          { query: "query First { __typename }" },
          { query: "query Second { __typename }" },
        ]),
      });
      expect(batch.status).toBe(200);
      const batchSpan = await collector.waitForSpan(
        (s) => s.traceId === batchTrace && s.kind === 2,
      );
      for (const name of ["query First", "query Second"]) {
        const span = await collector.waitForSpan(
          (s) => s.traceId === batchTrace && s.name === name,
        );
        expect(span.parentSpanId).toBe(batchSpan.spanId);
        expect(span.attributes["graphql.operation.outcome"]).toBe("success");
      }

      // An operation refused before it runs (a forged token) is an operation span too.
      const forgedTrace = hex(16);
      const forged = await gql(
        url,
        `query Me { me { id } }`,
        {},
        { token: `${agent}x`, headers: { traceparent: `00-${forgedTrace}-${hex(8)}-01` } },
      );
      expect(forged.status).toBe(401);
      const refused = await collector.waitForSpan(
        (s) => s.traceId === forgedTrace && s.kind === 1, // INTERNAL: the operation
      );
      expect(refused.attributes).toMatchObject({
        "graphql.operation.outcome": "error",
        "graphql.error.codes": ["UNAUTHENTICATED"],
      });

      // A body that arrives in pieces (a slow client) is read outside the request's first tick:
      // its operation is still in the request's trace, and so are its log lines.
      const slowTrace = hex(16);
      const slow = await postInPieces(
        url,
        { query: "query Slow { __typename }" },
        { traceparent: `00-${slowTrace}-${hex(8)}-01` },
      );
      expect(slow.status).toBe(200);
      const slowHttp = await collector.waitForSpan((s) => s.traceId === slowTrace && s.kind === 2);
      const slowOperation = await collector.waitForSpan((s) => s.name === "query Slow");
      expect(slowOperation.traceId).toBe(slowTrace);
      expect(slowOperation.parentSpanId).toBe(slowHttp.spanId);
      await api.logged((l) => l.reqId === slow.requestId && l.msg === "request completed");
      const slowLines = api.lines.filter((l) => l.reqId === slow.requestId);
      for (const line of slowLines) expect(line.trace_id).toBe(slowTrace);

      // A malformed traceparent is ignored (a new trace), never an error.
      const bad = await gql(
        url,
        `query { __typename }`,
        {},
        { token: agent, headers: { traceparent: "00-zz-not-a-trace-01" } },
      );
      expect(bad.status).toBe(200);

      await api.stop();
      expect(await api.exited).toBe(0);
    },
  );
});

describe("a collector that does not answer", () => {
  it("slows no request, and shutdown gives up on it after a bounded wait", async () => {
    const collector = await receiver({ hang: true });
    const api = await server({
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_BSP_SCHEDULE_DELAY: "50",
    });
    const url = `http://127.0.0.1:${api.port}`;
    for (let i = 0; i < 5; i++) {
      const begun = performance.now();
      const response = await gql(url, `query { __typename }`);
      expect(response.status).toBe(200);
      expect(performance.now() - begun).toBeLessThan(2_000);
    }
    // The exporter waits 10 s for an answer by default: shutdown must not.
    const stopping = performance.now();
    api.child.kill("SIGTERM");
    expect(await api.exited).toBe(0);
    expect(performance.now() - stopping).toBeLessThan(8_000);
  }, 180_000);
});

describe("tracing off", () => {
  it("sends nothing and logs no trace ids when OTEL_SDK_DISABLED=true", async () => {
    const collector = await receiver();
    const api = await server({
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_BSP_SCHEDULE_DELAY: "50",
      OTEL_SDK_DISABLED: "true",
    });
    const url = `http://127.0.0.1:${api.port}`;
    const response = await gql(
      url,
      `query { __typename }`,
      {},
      {
        headers: { traceparent: `00-${hex(16)}-${hex(8)}-01` },
      },
    );
    expect(response.status).toBe(200);
    await api.stop();
    expect(await api.exited).toBe(0);
    expect(collector.bodies).toEqual([]);
    expect(api.lines.length).toBeGreaterThan(2);
    expect(api.lines.filter((l) => "trace_id" in l)).toEqual([]);
    expect(api.lines.filter((l) => l.component === "opentelemetry")).toEqual([]);
  }, 180_000);

  it("is opt-in by an OTLP endpoint, and refuses settings it cannot honour", () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_SERVICE_NAME: "api", OTEL_TRACES_SAMPLER: "always_on" })).toBe(
      false,
    );
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(true);
    expect(
      tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://collector/v1/traces" }),
    ).toBe(true);
    expect(
      tracingRequested({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_SDK_DISABLED: "TRUE",
      }),
    ).toBe(false);
    expect(
      tracingRequested({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_TRACES_EXPORTER: "none",
      }),
    ).toBe(false);
    expect(() => tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT must be an http\(s\) URL/,
    );
    expect(() =>
      tracingRequested({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_TRACES_EXPORTER: "zipkin",
      }),
    ).toThrow(/OTEL_TRACES_EXPORTER/);
    expect(() =>
      tracingRequested({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4317",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
      }),
    ).toThrow(/not gRPC/);
    expect(
      tracingRequested({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      }),
    ).toBe(true);
  });
});
