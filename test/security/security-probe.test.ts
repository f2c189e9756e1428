import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectPath } from "../../src/paths.js";
import { freePort } from "../support/server-process.js";
import { securityProbe } from "../support/security-probe.js";
import { productionEnv, startServer, type TestServer } from "../support/server.js";

/*
 * `npm run security:probe` against real servers over plain HTTP: one configured as production
 * is (only TLS fails: it is terminated in front of a server like this), and one that lost two
 * defaults. Over direct TLS it is run in test/http/edge/tls.test.ts.
 */

const run = promisify(execFile);

let production: TestServer;
let careless: TestServer;

beforeAll(async () => {
  production = await startServer(
    productionEnv({ METRICS_TOKEN: "metrics-token-0123456789-abcdefghijklmnop" }),
  );
  careless = await startServer({ INTROSPECTION: "public" });
});

afterAll(async () => {
  await production?.close();
  await careless?.close();
});

describe("npm run security:probe", () => {
  it("passes every check but TLS on a production server reached over plain HTTP", async () => {
    const { code, lines } = await securityProbe(production.url);
    expect(lines.map((l) => l.split(":")[0])).toEqual([
      "FAIL tls",
      "PASS headers",
      "PASS introspection",
      "PASS csrf",
      "PASS errors",
      "PASS body-limit",
      "PASS metrics",
    ]);
    expect(lines[0]).toBe(`FAIL tls: ${production.url} is not https`);
    expect(code).toBe(1);
  }, 60_000);

  it("fails a server with a public schema and an open /metrics", async () => {
    const { code, lines } = await securityProbe(careless.url);
    expect(lines).toContain(
      "FAIL introspection: an anonymous caller can read the schema (INTROSPECTION=public)",
    );
    expect(lines).toContain(
      "FAIL metrics: GET /metrics answers without a token (set METRICS_TOKEN)",
    );
    expect(code).toBe(1);
  }, 60_000);

  it("says why it cannot check an unreachable server, and refuses a missing --url", async () => {
    const { code, lines } = await securityProbe(`http://127.0.0.1:${await freePort()}`);
    expect(lines.every((l) => l.startsWith("FAIL "))).toBe(true);
    expect(lines[1]).toMatch(/^FAIL headers: could not check: .*ECONNREFUSED/);
    expect(code).toBe(1);
    await expect(
      run(process.execPath, [projectPath("dist/src/cli/security-probe.js")], {
        cwd: projectPath("."),
      }),
    ).rejects.toMatchObject({ code: 2 });
  }, 60_000);
});
