import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Browser,
  launchBrowser,
  resultOf,
  staticSite,
  type StaticSite,
} from "../../support/browser.js";
import { chromiumPath } from "../../support/environment.js";
import { createCustomer, createTenant, PASSWORD, type Tenant } from "../../support/fixtures.js";
import { sharedTestServer, startSiblingServer, type TestServer } from "../../support/server.js";

/*
 * The SPA of README "Trusted documents", in a real browser: its build holds document ids, never
 * document text, and the server (TRUSTED_DOCUMENTS_MODE=require) runs nothing else for it. It
 * logs in by POST and lists customers by GET, through CORS and CSRF prevention as they are.
 */

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

const LOG_IN = `mutation LogIn($email: String!, $password: String!) {
  logIn(email: $email, password: $password) {
    accessToken
  }
}`;
const CUSTOMERS = `query Customers($first: Int) {
  customers(first: $first) {
    nodes {
      name
    }
  }
}`;
/** What the client preset's build gives the app: each operation's id. */
const IDS = { LogIn: `sha256:${sha256(LOG_IN)}`, Customers: `sha256:${sha256(CUSTOMERS)}` };

const SPA = `<!doctype html>
<html><head><meta charset="utf-8"><title>SPA</title></head>
<body><pre id="result">running</pre>
<script>
  const documents = ${JSON.stringify(IDS)};
  const params = new URL(location.href).searchParams;
  const api = params.get("api");
  async function answer(res) {
    const body = await res.json();
    if (body.errors) throw new Error(body.errors[0].extensions.code);
    return body.data;
  }
  (async () => {
    const login = await answer(await fetch(api, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        documentId: documents.LogIn,
        variables: { email: params.get("email"), password: params.get("password") },
      }),
    }));
    const token = login.logIn.accessToken; // in memory only, never localStorage
    // A query by GET: a short URL naming the document. Apollo's CSRF prevention wants a header
    // that makes the browser preflight, as the Authorization header does anyway.
    const url = new URL(api);
    url.searchParams.set("documentId", documents.Customers);
    url.searchParams.set("variables", JSON.stringify({ first: 10 }));
    const list = await answer(await fetch(url, {
      headers: { authorization: "Bearer " + token, "apollo-require-preflight": "true" },
    }));
    document.getElementById("result").textContent =
      "customers: " + list.customers.nodes.map((c) => c.name).sort().join(", ");
  })().catch((error) => {
    document.getElementById("result").textContent = "failed: " + error.message;
  });
</script></body></html>`;

let site: StaticSite;
let api: TestServer;
let browser: Browser | undefined;
let tenant: Tenant;
let dir: string;

beforeAll(async () => {
  if (!chromiumPath) return; // skipped below: no browser on this machine (CI always has one)
  dir = mkdtempSync(join(tmpdir(), "trusted-spa-"));
  writeFileSync(
    join(dir, "persisted-documents.json"),
    JSON.stringify({ [IDS.LogIn]: LOG_IN, [IDS.Customers]: CUSTOMERS }),
  );
  site = await staticSite(SPA);
  const shared = await sharedTestServer(); // where the organization is made (documents free)
  tenant = await createTenant(shared.url, "trusted-spa");
  for (const name of ["Ada Lovelace", "Grace Hopper"]) {
    await createCustomer(shared.url, tenant.members.ADMIN.token, { name });
  }
  api = await startSiblingServer({
    CORS_ORIGINS: site.origin,
    TRUSTED_DOCUMENTS: dir,
    TRUSTED_DOCUMENTS_MODE: "require",
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await api?.close();
  site?.server.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!chromiumPath)("an SPA that sends only document ids, in a real browser", () => {
  it("logs in by POST and lists customers by GET, on a server that requires trusted documents", async () => {
    expect(SPA).not.toMatch(/logIn\(|customers\(/); // the page holds no document text
    const served = api.app.trustedDocuments!.documentsServed;
    const query = new URLSearchParams({
      api: `${api.url}/graphql`,
      email: tenant.members.AGENT.email,
      password: PASSWORD,
    });
    expect(await resultOf(browser!, `${site.origin}/?${query.toString()}`)).toBe(
      "customers: Ada Lovelace, Grace Hopper",
    );
    // both operations ran as the documents compiled at start
    expect(api.app.trustedDocuments!.documentsServed).toBe(served + 2);
  });
});
