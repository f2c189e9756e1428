import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config.js";
import { parseProxyTrust, type ProxyTrust } from "../../../src/http/proxy-trust.js";
import { createTenant, type Tenant } from "../../support/fixtures.js";
import { dataOf, gql } from "../../support/graphql.js";
import { capturingLogger } from "../../support/logs.js";
import { startServer, type TestServer } from "../../support/server.js";

/*
 * X-Request-Id: a trusted proxy's id is kept (one key across the proxy's logs, ours and the
 * audit trail); anyone else's is replaced by a fresh UUID. Every test client connects from
 * 127.0.0.1, so TRUST_PROXY decides whether that peer counts as a proxy.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const proxyLogs = capturingLogger();
let behindProxy: TestServer; // TRUST_PROXY=127.0.0.1: the test client is the proxy
let direct: TestServer; // no TRUST_PROXY: the test client is a client
let otherProxy: TestServer; // TRUST_PROXY names a proxy that is not the test client
let tenant: Tenant;

beforeAll(async () => {
  behindProxy = await startServer(
    { LOG_LEVEL: "info", TRUST_PROXY: "127.0.0.1" },
    { logger: proxyLogs.logger },
  );
  direct = await startServer();
  otherProxy = await startServer({ TRUST_PROXY: "10.0.0.0/8, uniquelocal" });
  tenant = await createTenant(behindProxy.url, "request-id");
});

afterAll(async () => {
  await behindProxy?.close();
  await direct?.close();
  await otherProxy?.close();
});

const uniqueId = (prefix: string) => `${prefix}-${randomBytes(8).toString("hex")}`;

/** The request id a server used for a request sent with this X-Request-Id (its response header). */
async function idUsedFor(server: TestServer, sent: string | string[]): Promise<string> {
  const headers = new Headers();
  for (const value of [sent].flat()) headers.append("x-request-id", value);
  const res = await fetch(`${server.url}/healthz`, { headers });
  expect(res.status).toBe(200);
  return res.headers.get("x-request-id")!;
}

describe("behind a trusted proxy", () => {
  it("keeps a well-formed X-Request-Id: the response, the errors, the logs and the audit event use it", async () => {
    const sent = uniqueId("nginx");
    const res = await gql(
      behindProxy.url,
      "query KeptRequestId { me { id } customers(first: 0) { totalCount } }",
      {},
      { token: tenant.members.ADMIN.token, headers: { "x-request-id": sent } },
    );
    expect(res.headers.get("x-request-id")).toBe(sent);
    expect(res.body.errors?.[0]?.extensions).toMatchObject({ requestId: sent });
    expect(proxyLogs.lines.filter((line) => line.reqId === sent).map((l) => l.msg)).toEqual(
      expect.arrayContaining(["incoming request", "request completed"]),
    );

    let audited: { requestId: string }[] = [];
    await expect
      .poll(
        async () => {
          const { auditEvents } = dataOf(
            await gql<{ auditEvents: { nodes: { requestId: string }[] } }>(
              behindProxy.url,
              `{ auditEvents(first: 5, filter: { operationName: "KeptRequestId" }) { nodes { requestId } } }`,
              {},
              { token: tenant.members.ADMIN.token },
            ),
          );
          audited = auditEvents.nodes;
          return audited.length;
        },
        { timeout: 10_000 },
      )
      .toBe(1);
    expect(audited[0]!.requestId).toBe(sent);
  });

  it("keeps the usual forms: UUIDs, nginx's hex ids, ULIDs, base64url, host:counter", async () => {
    for (const sent of [
      "0f8fad5b-d9cb-469f-a165-70867728950e",
      randomBytes(16).toString("hex"),
      "01ARZ3NDEKTSV4RRFFQ69G5FAV",
      randomBytes(12).toString("base64url"),
      "edge-3.example:18342-7",
      "x".repeat(128),
    ]) {
      expect(await idUsedFor(behindProxy, sent)).toBe(sent);
    }
  });

  it("replaces a malformed one with a fresh UUID: too long, spaces, tabs, markup, non-ASCII, two of them", async () => {
    for (const sent of [
      "x".repeat(129),
      "a b",
      "a\tb",
      "<script>alert(1)</script>",
      "id\u00e9",
      "a/b",
      "a,b",
      ["first-id", "second-id"],
    ]) {
      const used = await idUsedFor(behindProxy, sent);
      expect(used, JSON.stringify(sent)).toMatch(UUID);
    }
    expect(await idUsedFor(behindProxy, "")).toMatch(UUID);
  });
});

describe("without a trusted proxy", () => {
  it("ignores X-Request-Id from a client that reaches the server directly", async () => {
    const sent = uniqueId("forged");
    const used = await idUsedFor(direct, sent);
    expect(used).not.toBe(sent);
    expect(used).toMatch(UUID);
  });

  it("ignores it from a peer that is not one of TRUST_PROXY's addresses", async () => {
    const sent = uniqueId("forged");
    expect(await idUsedFor(otherProxy, sent)).toMatch(UUID);
  });

  it("gives every request its own fresh id", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) ids.add(await idUsedFor(direct, "same-id-every-time"));
    expect(ids.size).toBe(5);
  });
});

describe("TRUST_PROXY", () => {
  const trustProxy = (value: string) => parseConfig({ NODE_ENV: "test", TRUST_PROXY: value });

  it("accepts true, false, a hop count, addresses, CIDRs and proxy-addr's range names", () => {
    for (const good of [
      "true",
      "false",
      "2",
      "127.0.0.1",
      "10.0.0.0/8, 192.168.1.0/24",
      "::1, fd00::/8",
      "loopback, linklocal, uniquelocal",
    ]) {
      expect(trustProxy(good).config.trustProxy, good).toBe(good);
    }
  });

  it("trusts exactly the peers it names, as Fastify's X-Forwarded-For handling and the request id see them", () => {
    const trust = (value: string) => parseProxyTrust(value) as ProxyTrust;
    expect(parseProxyTrust("false")).toBeUndefined();
    expect(parseProxyTrust("0")).toBeUndefined();
    expect(trust("true")("203.0.113.7", 5)).toBe(true);
    expect([0, 1, 2].map((hop) => trust("2")("203.0.113.7", hop))).toEqual([true, true, false]);
    const list = trust("10.0.0.0/8, 192.0.2.4, ::1, loopback");
    for (const yes of ["10.1.2.3", "::ffff:10.1.2.3", "192.0.2.4", "::1", "127.0.0.2"]) {
      expect(list(yes, 0), yes).toBe(true);
    }
    for (const no of ["11.0.0.1", "192.0.2.5", "::2", "unknown", "", "10.1.2.3, 10.1.2.4"]) {
      expect(list(no, 0), no).toBe(false);
    }
  });

  it("refuses at start anything else, naming the variable and the entry", () => {
    for (const bad of ["yes", "10.0.0.0/33", "10.0.0.0/8/1", "proxy.example", "::1/129", "1.2.3"]) {
      expect(() => trustProxy(bad), bad).toThrow(
        /TRUST_PROXY.*is not an address|TRUST_PROXY.*prefix/,
      );
    }
  });
});
