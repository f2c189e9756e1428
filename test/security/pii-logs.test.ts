import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { createCustomer, createTenant, type Tenant } from "../support/fixtures.js";
import { codesOf } from "../support/graphql.js";
import { startServer, type TestServer } from "../support/server.js";

/* The server's own logger, at debug level, over requests full of personal data. */

let server: TestServer;
let tenant: Tenant;
const lines: string[] = [];
const email = "logged.person@pii-logs.example";

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  server = await startServer({}, { logger: createLogger("debug", sink) });
  tenant = await createTenant(server.url, "logs");
  await createCustomer(server.url, tenant.members.ADMIN.token, {
    email,
    phone: "+14155550777",
    taxId: "LG-777-888",
  });
});

afterAll(() => server?.close());

describe("logs hold no personal data", () => {
  it("a GET query with an email in its query string is logged by path only", async () => {
    const query = `{ customers(filter: { email: "${email}" }) { totalCount nodes { email phone taxId } } }`;
    const res = await fetch(`${server.url}/graphql?query=${encodeURIComponent(query)}`, {
      headers: {
        authorization: `Bearer ${tenant.members.ADMIN.token}`,
        "apollo-require-preflight": "1",
      },
    });
    const body = (await res.json()) as { data: { customers: { totalCount: number } } };
    expect(body.data.customers.totalCount).toBe(1);
    // bad input too
    const bad = await fetch(
      `${server.url}/graphql?query=${encodeURIComponent(`{ customers(filter: { email: 12 }) { totalCount } }`)}&variables=${encodeURIComponent(JSON.stringify({ email }))}`,
      {
        headers: {
          authorization: `Bearer ${tenant.members.ADMIN.token}`,
          "apollo-require-preflight": "1",
        },
      },
    );
    const badBody = (await bad.json()) as Parameters<typeof codesOf>[0]["body"];
    expect(codesOf({ status: bad.status, headers: bad.headers, body: badBody })).toEqual([
      "GRAPHQL_VALIDATION_FAILED",
    ]);

    const requests = lines.filter((line) => line.includes('"incoming request"'));
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.some((line) => line.includes('"path":"/graphql"'))).toBe(true);
    const everything = lines.join("\n");
    for (const value of [email, "logged.person", "+14155550777", "LG-777-888"]) {
      expect(everything).not.toContain(value);
      expect(everything).not.toContain(encodeURIComponent(value));
    }
  });
});
