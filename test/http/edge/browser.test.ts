import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Browser,
  launchBrowser,
  resultOf,
  staticSite,
  type StaticSite,
} from "../../support/browser.js";
import { chromiumPath } from "../../support/environment.js";
import { createCustomer, createTenant, type Tenant } from "../../support/fixtures.js";
import { startServer, type TestServer } from "../../support/server.js";

/*
 * A real browser (Debian's Chromium, headless) running a small SPA: CORS is enforced by the
 * browser, so only a real one shows that an allowed origin can use the API and another cannot.
 */

const CHROMIUM = chromiumPath;

/** The SPA: logs in, keeps the token in memory, lists customers; reports in #result. */
const SPA = `<!doctype html>
<html><head><meta charset="utf-8"><title>SPA</title></head>
<body><pre id="result">running</pre>
<script>
  const api = new URL(location.href).searchParams.get("api");
  const params = new URL(location.href).searchParams;
  async function graphql(query, variables, token) {
    const res = await fetch(api, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        // what a configured Apollo Client (name, version) and OpenTelemetry's fetch instrumentation add
        "apollographql-client-name": "spa",
        "apollographql-client-version": "1.0.0",
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ...(token ? { authorization: "Bearer " + token } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
    return res.json();
  }
  (async () => {
    const login = await graphql(
      "mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }",
      { e: params.get("email"), p: params.get("password") },
    );
    const token = login.data.logIn.accessToken; // in memory only, never localStorage
    const list = await graphql("{ customers(first: 10) { nodes { name } } }", {}, token);
    document.getElementById("result").textContent =
      "customers: " + list.data.customers.nodes.map((c) => c.name).sort().join(", ");
  })().catch((error) => {
    document.getElementById("result").textContent = "blocked: " + error.message;
  });
</script></body></html>`;

let api: TestServer;
let allowed: StaticSite;
let other: StaticSite;
let browser: Browser | undefined;
let tenant: Tenant;

/** Requests the API answered, by method (from its own metrics). */
async function answered(method: string): Promise<number> {
  const { values } = await api.app.metrics.httpResponses.get();
  return values.filter((v) => v.labels.method === method).reduce((n, v) => n + v.value, 0);
}

beforeAll(async () => {
  if (!CHROMIUM) return; // skipped below: no browser on this machine (CI always has one)
  allowed = await staticSite(SPA);
  other = await staticSite(SPA);
  api = await startServer({ CORS_ORIGINS: allowed.origin });
  tenant = await createTenant(api.url, "browser");
  for (const name of ["Ada Lovelace", "Grace Hopper"]) {
    await createCustomer(api.url, tenant.members.ADMIN.token, { name });
  }
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await api?.close();
  allowed?.server.close();
  other?.server.close();
});

function runSpa(origin: string): Promise<string> {
  const query = new URLSearchParams({
    api: `${api.url}/graphql`,
    email: tenant.members.AGENT.email,
    password: "correct horse battery staple",
  });
  return resultOf(browser!, `${origin}/?${query.toString()}`);
}

describe.skipIf(!CHROMIUM)("an SPA in a real browser", () => {
  it("logs in and lists customers from an allowed origin", async () => {
    const [options, posts] = [await answered("OPTIONS"), await answered("POST")];
    expect(await runSpa(allowed.origin)).toBe("customers: Ada Lovelace, Grace Hopper");
    // The browser preflighted the JSON POSTs (once: the preflight is cached) and then sent both.
    expect(await answered("OPTIONS")).toBe(options + 1);
    expect(await answered("POST")).toBe(posts + 2);
  });

  it("is blocked by the browser from any other origin: the login is never even sent", async () => {
    const [options, posts] = [await answered("OPTIONS"), await answered("POST")];
    expect(await runSpa(other.origin)).toBe("blocked: Failed to fetch");
    expect(await answered("OPTIONS")).toBe(options + 1);
    expect(await answered("POST")).toBe(posts);
  });
});
