import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config.js";
import { RecentKeys } from "../../../src/http/recent-keys.js";
import { capturingLogger } from "../../support/logs.js";
import { productionEnv, startServer, type TestServer } from "../../support/server.js";

/*
 * CORS in both configurations a deployment meets: development (this machine's dev servers under
 * every loopback name) and production (only CORS_ORIGINS). The browser enforces what these
 * headers say; test/http/edge/browser.test.ts shows a real one doing it.
 */

const APP_ORIGIN = "https://app.example.com";
const SPA_HEADERS = "authorization, content-type";
let dev: TestServer;
let prod: TestServer;
const prodLogs = capturingLogger();

beforeAll(async () => {
  dev = await startServer({
    NODE_ENV: "development",
    DATA_DIR: mkdtempSync(join(tmpdir(), "cors-dev-")),
    SEED_DEMO_DATA: "false",
    BCRYPT_ROUNDS: "4",
  });
  prod = await startServer(productionEnv({ CORS_ORIGINS: APP_ORIGIN }), {
    logger: prodLogs.logger,
  });
});

afterAll(async () => {
  await dev?.close();
  await prod?.close();
});

const preflight = (url: string, origin: string, headers = SPA_HEADERS, method = "POST") =>
  fetch(`${url}/graphql`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": method,
      "access-control-request-headers": headers,
    },
  });

const post = (url: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query: "{ __typename }" }),
  });

const corsHeadersOf = (res: Response) =>
  [...res.headers.keys()].filter((name) => name.startsWith("access-control-"));

/** The warnings logged about refused or mismatched preflights from this origin. */
const warningsAbout = (origin: string) =>
  prodLogs.lines.filter((line) => line.level === 40 && line.origin === origin);

describe("an allowed origin", () => {
  it("gets its preflight answered with what an SPA needs, cached, without credentials", async () => {
    for (const [url, origin] of [
      [prod.url, APP_ORIGIN],
      [dev.url, "http://localhost:5173"],
      [dev.url, "http://127.0.0.1:5173"],
      [dev.url, "http://[::1]:3000"],
    ] as const) {
      const res = await preflight(url, origin);
      expect(res.status, origin).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe(origin);
      expect(res.headers.get("access-control-allow-methods")).toBe("GET, POST, OPTIONS");
      expect(res.headers.get("access-control-allow-headers")).toBe(
        "authorization, content-type, apollo-require-preflight, x-apollo-operation-name, " +
          "apollographql-client-name, apollographql-client-version, traceparent, tracestate",
      );
      expect(res.headers.get("access-control-max-age")).toBe("600");
      expect(res.headers.get("access-control-allow-credentials")).toBeNull();
      expect(res.headers.get("vary")).toContain("Origin");
    }
    const actual = await post(prod.url, { origin: APP_ORIGIN });
    expect(actual.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
    expect(actual.headers.get("access-control-expose-headers")).toContain("retry-after");
  });

  it("may send Apollo Client's client-awareness headers and W3C trace context", async () => {
    const apolloClient = {
      "apollographql-client-name": "web",
      "apollographql-client-version": "1.4.2",
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      tracestate: "vendor=abc",
    };
    const res = await preflight(prod.url, APP_ORIGIN, Object.keys(apolloClient).join(", "));
    expect(res.status).toBe(204);
    const allowed = res.headers.get("access-control-allow-headers")!.split(", ");
    expect(allowed).toEqual(expect.arrayContaining(Object.keys(apolloClient)));
    const actual = await post(prod.url, { origin: APP_ORIGIN, ...apolloClient });
    expect(actual.status).toBe(200);
    expect(await actual.json()).toMatchObject({ data: { __typename: "Query" } });
  });

  it("asking for a header or method not allowed gets the allowed lists (the browser refuses), logged once", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await preflight(prod.url, APP_ORIGIN, "content-type, x-debug-user", "DELETE");
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
      expect(res.headers.get("access-control-allow-headers")).not.toContain("x-debug-user");
      expect(res.headers.get("access-control-allow-methods")).not.toContain("DELETE");
    }
    const warnings = warningsAbout(APP_ORIGIN);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.notAllowed).toEqual(["method DELETE", "header x-debug-user"]);
    expect(warnings[0]!.msg).toMatch(/does not allow/);
  });
});

describe("any other origin", () => {
  const refused: [() => TestServer, string][] = [
    [() => prod, "https://evil.example"],
    [() => prod, `${APP_ORIGIN}.evil.example`],
    [() => prod, "http://app.example.com"], // scheme differs
    [() => prod, "https://app.example.com:8443"], // port differs
    // the development defaults are never production defaults
    [() => prod, "http://localhost:5173"],
    [() => prod, "http://127.0.0.1:5173"],
    [() => prod, "http://[::1]:5173"],
    [() => prod, "null"],
    [() => dev, "http://localhost.evil.example:5173"],
    [() => dev, "https://localhost:5173"],
    [() => dev, "http://127.0.0.2:5173"],
    [() => dev, "http://[::2]:5173"],
    [() => dev, "http://192.168.1.10:5173"],
  ];

  it("has its preflight refused with 403 and no CORS headers at all, lookalikes included", async () => {
    for (const [server, origin] of refused) {
      const res = await preflight(server().url, origin);
      expect(res.status, origin).toBe(403);
      expect(corsHeadersOf(res), origin).toEqual([]);
      expect(res.headers.get("vary")).toContain("Origin");
      const body = (await res.json()) as { errors: { extensions: Record<string, unknown> }[] };
      expect(body.errors[0]!.extensions).toEqual({
        code: "FORBIDDEN",
        requestId: res.headers.get("x-request-id"),
      });
    }
  });

  it("gets no CORS headers on a request that needs no preflight (the browser hides the response)", async () => {
    for (const [server, origin] of refused) {
      const res = await post(server().url, { origin });
      expect(corsHeadersOf(res), origin).toEqual([]);
      expect(res.headers.get("vary")).toContain("Origin");
    }
  });

  it("is logged once per origin, however often it asks", async () => {
    const origins = ["https://one.evil.example", "https://two.evil.example"];
    for (let i = 0; i < 3; i++) {
      for (const origin of origins) expect((await preflight(prod.url, origin)).status).toBe(403);
    }
    for (const origin of origins) {
      const warnings = warningsAbout(origin);
      expect(warnings, origin).toHaveLength(1);
      expect(warnings[0]!.msg).toMatch(/CORS preflight refused: origin not in CORS_ORIGINS/);
      expect(warnings[0]!.reqId).toEqual(expect.any(String));
    }
  });

  it("is logged with only the start of an overlong origin", async () => {
    const long = `https://${"a".repeat(5_000)}.evil.example`;
    expect((await preflight(prod.url, long)).status).toBe(403);
    const [warning, ...more] = warningsAbout(long.slice(0, 200));
    expect(warning?.msg).toMatch(/CORS preflight refused/);
    expect(more).toEqual([]);
  });

  it("cannot grow the server's memory by sending endless new origins: only the latest are kept", () => {
    const seen = new RecentKeys(3);
    expect(["a", "b", "c", "a"].map((key) => seen.see(key))).toEqual([true, true, true, false]);
    expect(seen.see("d")).toBe(true); // forgets "b", the least recently seen
    expect(seen.size).toBe(3);
    expect(seen.see("b")).toBe(true);
    expect(seen.see("a")).toBe(false);
    for (let i = 0; i < 10_000; i++) seen.see(`https://${i}.evil.example`);
    expect(seen.size).toBe(3);
  });

  it("an OPTIONS request that is not a preflight is not CORS's business: 404 as before", async () => {
    const res = await fetch(`${prod.url}/graphql`, { method: "OPTIONS" });
    expect(res.status).toBe(404);
    expect(corsHeadersOf(res)).toEqual([]);
  });
});

describe("CORS_ORIGINS", () => {
  it("accepts only origins, refusing anything that is not one at start", () => {
    const origins = (value: string) => parseConfig({ NODE_ENV: "test", CORS_ORIGINS: value });
    expect(
      origins("https://a.example, http://localhost:*, http://[::1]:*").config.corsOrigins,
    ).toEqual(["https://a.example", "http://localhost:*", "http://[::1]:*"]);
    for (const bad of [
      "*",
      "https://a.example/",
      "https://a.example/path",
      "https://*.example.com",
      "ftp://a.example",
      "https://user@a.example",
      "https://a.example:*:*",
    ]) {
      expect(() => origins(bad), bad).toThrow(/CORS_ORIGINS/);
    }
  });

  it("defaults to this machine's loopback names at any port in development, to nothing otherwise", () => {
    expect(dev.app.services.config.corsOrigins).toEqual([
      "http://localhost:*",
      "http://127.0.0.1:*",
      "http://[::1]:*",
    ]);
    expect(parseConfig({ NODE_ENV: "test" }).config.corsOrigins).toEqual([]);
    expect(parseConfig(productionEnv()).config.corsOrigins).toEqual([]);
  });
});
