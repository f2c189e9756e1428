import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { auditEvents } from "../../src/db/schema.js";
import { createApiClient, type PartnerClient } from "../support/api-clients.js";
import { createCustomer, createTenant, PASSWORD, type Tenant } from "../support/fixtures.js";
import { sharedTestServer, startSiblingServer, type TestServer } from "../support/server.js";

/*
 * Trusted documents (README "Trusted documents"): a first-party app's operations, loaded from
 * manifests at start and sent by id. With TRUSTED_DOCUMENTS_MODE=require, users and anonymous
 * callers run only those; API clients (partners) still write their own documents.
 * Organizations are made on the shared server (its documents are free) and used on servers with
 * the manifests, which share its secrets and database.
 */

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** The app's operations, as GraphQL Code Generator's client preset prints them. */
const CUSTOMERS = `query Customers($first: Int) {
  customers(first: $first) {
    nodes {
      name
    }
  }
}`;
const LOG_IN = `mutation LogIn($email: String!, $password: String!) {
  logIn(email: $email, password: $password) {
    accessToken
  }
}`;
const CUSTOMERS_ID = `sha256:${sha256(CUSTOMERS)}`; // the client preset's default form
const LOG_IN_ID = createHash("sha1").update(LOG_IN).digest("hex"); // its default (sha1)
const MANIFEST = { [CUSTOMERS_ID]: CUSTOMERS, [LOG_IN_ID]: LOG_IN };
const ARBITRARY = "{ customers(first: 1) { nodes { name } } }";

let shared: TestServer;
let requiring: TestServer;
let allowing: TestServer;
let tenant: Tenant;
let partner: PartnerClient;
let dir: string;

const writeManifest = (name: string, manifest: Record<string, string>) => {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(manifest));
  return file;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "trusted-documents-"));
  writeManifest("app.json", MANIFEST);
  shared = await sharedTestServer();
  tenant = await createTenant(shared.url, "trusted");
  await createCustomer(shared.url, tenant.members.ADMIN.token, { name: "Ada Lovelace" });
  partner = await createApiClient(shared.url, tenant.members.ADMIN.token, ["customers:read"]);
  requiring = await startSiblingServer({
    TRUSTED_DOCUMENTS: dir,
    TRUSTED_DOCUMENTS_MODE: "require",
  });
  allowing = await startSiblingServer({
    TRUSTED_DOCUMENTS: join(dir, "app.json"),
    TRUSTED_DOCUMENTS_MODE: "allow",
  });
});

afterAll(async () => {
  await requiring?.close();
  await allowing?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Sent {
  token?: string;
  userAgent?: string;
  headers?: Record<string, string>;
}

async function post(server: TestServer, body: unknown, sent: Sent = {}) {
  const response = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(sent.token ? { authorization: `Bearer ${sent.token}` } : {}),
      ...(sent.userAgent ? { "user-agent": sent.userAgent } : {}),
      ...sent.headers,
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function get(server: TestServer, params: Record<string, string>, sent: Sent = {}) {
  const response = await fetch(`${server.url}/graphql?${new URLSearchParams(params).toString()}`, {
    headers: {
      ...(sent.token ? { authorization: `Bearer ${sent.token}` } : {}),
      ...sent.headers,
    },
  });
  return { status: response.status, body: (await response.json()) as any };
}

const codeOf = (result: { body: any }): unknown => result.body.errors?.[0]?.extensions?.code;
const namesOf = (result: { body: any }): string[] =>
  result.body.data.customers.nodes.map((c: { name: string }) => c.name);
/** CSRF prevention: a GET needs a header a browser sends cross-site only after a preflight. */
const PREFLIGHTED = { "apollo-require-preflight": "true" };

describe("TRUSTED_DOCUMENTS_MODE=require", () => {
  const user = () => ({ token: tenant.members.AGENT.token });

  it("refuses a user's document of its own, and runs the manifest's by id over POST", async () => {
    const refused = await post(requiring, { query: ARBITRARY }, user());
    expect(refused.status).toBe(400);
    expect(codeOf(refused)).toBe("PERSISTED_QUERY_REQUIRED");
    expect(refused.body.data).toBeUndefined();
    // the very same text as a trusted document is still refused: the id is what is trusted
    expect(
      codeOf(await post(requiring, { query: CUSTOMERS, variables: { first: 5 } }, user())),
    ).toBe("PERSISTED_QUERY_REQUIRED");

    const byId = await post(
      requiring,
      { documentId: CUSTOMERS_ID, variables: { first: 5 }, operationName: "Customers" },
      user(),
    );
    expect(byId.status).toBe(200);
    expect(byId.body.errors).toBeUndefined();
    expect(namesOf(byId)).toEqual(["Ada Lovelace"]);
    expect(byId.body.extensions.cost.requestedQueryCost).toBeGreaterThan(1);
  });

  it("runs the manifest's queries by id over GET, with CSRF prevention still on", async () => {
    const params = { documentId: CUSTOMERS_ID, variables: JSON.stringify({ first: 5 }) };
    const byGet = await get(requiring, params, { ...user(), headers: PREFLIGHTED });
    expect(byGet.status).toBe(200);
    expect(namesOf(byGet)).toEqual(["Ada Lovelace"]);

    // A GET a page could make cross-site without a preflight is refused, by id as by text.
    const simple = await get(requiring, params, user());
    expect(simple.status).toBe(400);
    expect(codeOf(simple)).toBe("BAD_REQUEST");
    expect(simple.body.data).toBeUndefined();

    // A mutation stays POST-only, trusted or not.
    const mutation = await get(
      requiring,
      { documentId: LOG_IN_ID, variables: JSON.stringify({ email: "a@b.example", password: "x" }) },
      { headers: PREFLIGHTED },
    );
    expect(mutation.status).toBe(405);

    // A GET with a document of its own is refused as a POST is.
    const arbitrary = await get(
      requiring,
      { query: ARBITRARY },
      { ...user(), headers: PREFLIGHTED },
    );
    expect(arbitrary.status).toBe(400);
    expect(codeOf(arbitrary)).toBe("PERSISTED_QUERY_REQUIRED");
  });

  it("refuses an anonymous caller's document of its own; logIn by id works", async () => {
    const refused = await post(requiring, { query: "{ __typename }" });
    expect(refused.status).toBe(400);
    expect(codeOf(refused)).toBe("PERSISTED_QUERY_REQUIRED");

    const logIn = await post(requiring, {
      documentId: LOG_IN_ID,
      variables: { email: tenant.members.VIEWER.email, password: PASSWORD },
    });
    expect(logIn.status).toBe(200);
    const token = logIn.body.data.logIn.accessToken as string;
    expect(namesOf(await post(requiring, { documentId: CUSTOMERS_ID }, { token }))).toEqual([
      "Ada Lovelace",
    ]);
  });

  it("lets an API client (partner) run any valid document within its limits", async () => {
    const own = await post(requiring, { query: ARBITRARY }, { token: partner.token });
    expect(own.status).toBe(200);
    expect(own.body.errors).toBeUndefined();
    expect(namesOf(own)).toEqual(["Ada Lovelace"]);
    // its documents pass every check as before
    const invalid = await post(requiring, { query: "{ nope }" }, { token: partner.token });
    expect(invalid.status).toBe(400);
    expect(codeOf(invalid)).toBe("GRAPHQL_VALIDATION_FAILED");
    // and it may use the trusted ones too
    const byId = await post(requiring, { documentId: CUSTOMERS_ID }, { token: partner.token });
    expect(namesOf(byId)).toEqual(["Ada Lovelace"]);
  });

  it("answers a bad token with 401, not with the trusted-documents refusal", async () => {
    const res = await post(requiring, { query: ARBITRARY }, { token: "not.a.token" });
    expect(res.status).toBe(401);
    expect(codeOf(res)).toBe("UNAUTHENTICATED");
  });

  it("answers an unknown id, or an id beside a document, with a client error", async () => {
    const unknown = await post(
      requiring,
      { documentId: `sha256:${sha256("{ me { id } }")}` },
      user(),
    );
    expect(unknown.status).toBe(400);
    expect(codeOf(unknown)).toBe("PERSISTED_QUERY_NOT_FOUND");
    const unknownByGet = await get(requiring, { documentId: "nope" }, { headers: PREFLIGHTED });
    expect(unknownByGet.status).toBe(400);
    expect(codeOf(unknownByGet)).toBe("PERSISTED_QUERY_NOT_FOUND");

    const both = await post(requiring, { documentId: CUSTOMERS_ID, query: ARBITRARY }, user());
    expect(both.status).toBe(400);
    expect(codeOf(both)).toBe("BAD_REQUEST");
    // neither a document nor an id: Apollo's own refusal, as on any server
    const neither = await post(requiring, { variables: {} }, user());
    expect(neither.status).toBe(400);
    expect(codeOf(neither)).toBe("BAD_REQUEST");
    const notString = await post(requiring, { documentId: 42 }, user());
    expect(notString.status).toBe(400);
    expect(codeOf(notString)).toBe("BAD_REQUEST");

    // Automatic persisted queries stay off: Apollo's refusal, which Apollo Client understands.
    const apq = await post(
      requiring,
      { extensions: { persistedQuery: { version: 1, sha256Hash: sha256(CUSTOMERS) } } },
      { token: partner.token },
    );
    expect(codeOf(apq)).toBe("PERSISTED_QUERY_NOT_SUPPORTED");
  });

  it("records each operation in the audit log, refused or run by id", async () => {
    const ua = `trusted-test/${randomBytes(6).toString("hex")}`;
    await post(requiring, { query: ARBITRARY }, { ...user(), userAgent: ua });
    await post(requiring, { documentId: "unknown" }, { userAgent: ua });
    await post(requiring, { documentId: CUSTOMERS_ID }, { ...user(), userAgent: ua });
    await requiring.app.audit.flush();
    const events = await requiring.app.services.database.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.userAgent, ua))
      .orderBy(auditEvents.at, auditEvents.id);
    expect(events.map((e) => [e.actorType, e.outcome, e.errorCodes, e.operationName])).toEqual([
      ["USER", "REJECTED", ["PERSISTED_QUERY_REQUIRED"], null],
      ["ANONYMOUS", "REJECTED", ["PERSISTED_QUERY_NOT_FOUND"], null],
      ["USER", "SUCCESS", [], "Customers"],
    ]);
    // a document by id is described like one sent as text (its fingerprint, never its text)
    expect(events[2]!.documentHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("runs trusted documents as compiled at start: Apollo parses none of them again", async () => {
    const documents = requiring.app.trustedDocuments!;
    expect(documents.size).toBe(2);
    const before = documents.documentsServed;
    for (let i = 0; i < 3; i++) {
      expect((await post(requiring, { documentId: CUSTOMERS_ID }, user())).status).toBe(200);
    }
    expect(documents.documentsServed).toBe(before + 3);
  });

  it("refuses a batch with one document of its own as a whole", async () => {
    const batching = await startSiblingServer({
      TRUSTED_DOCUMENTS: dir,
      TRUSTED_DOCUMENTS_MODE: "require",
      BATCH_LIMIT: "5",
    });
    try {
      const mixed = await post(
        batching,
        [{ documentId: CUSTOMERS_ID }, { query: ARBITRARY }],
        user(),
      );
      expect(mixed.status).toBe(400);
      expect(codeOf(mixed)).toBe("PERSISTED_QUERY_REQUIRED");
      const trusted = await post(
        batching,
        [{ documentId: CUSTOMERS_ID }, { documentId: CUSTOMERS_ID, variables: { first: 1 } }],
        user(),
      );
      expect(trusted.status).toBe(200);
      expect(trusted.body.map((r: any) => r.data.customers.nodes.length)).toEqual([1, 1]);
    } finally {
      await batching.close();
    }
  });
});

describe("TRUSTED_DOCUMENTS_MODE=allow", () => {
  it("takes both documents of a user's own and trusted ones by id", async () => {
    const token = tenant.members.AGENT.token;
    const own = await post(allowing, { query: ARBITRARY }, { token });
    expect(namesOf(own)).toEqual(["Ada Lovelace"]);
    const anonymous = await post(allowing, { query: "{ __typename }" });
    expect(anonymous.body.data).toEqual({ __typename: "Query" });
    const byId = await post(allowing, { documentId: CUSTOMERS_ID }, { token });
    expect(namesOf(byId)).toEqual(["Ada Lovelace"]);
    expect(codeOf(await post(allowing, { documentId: "unknown" }, { token }))).toBe(
      "PERSISTED_QUERY_NOT_FOUND",
    );
  });
});

describe("trusted documents off (the default)", () => {
  it("refuses a document id with a clear code, and takes documents as before", async () => {
    const token = tenant.members.AGENT.token;
    const byId = await post(shared, { documentId: CUSTOMERS_ID }, { token });
    expect(byId.status).toBe(400);
    expect(codeOf(byId)).toBe("PERSISTED_QUERY_NOT_SUPPORTED");
    const byGet = await get(shared, { documentId: CUSTOMERS_ID }, { token, headers: PREFLIGHTED });
    expect(byGet.status).toBe(400);
    expect(codeOf(byGet)).toBe("PERSISTED_QUERY_NOT_SUPPORTED");
    expect(namesOf(await post(shared, { query: ARBITRARY }, { token }))).toEqual(["Ada Lovelace"]);
  });
});

describe("a doubtful manifest stops the server from starting", () => {
  const startWith = (manifest: string | Record<string, string>, name = "bad.json") => {
    const bad = mkdtempSync(join(tmpdir(), "trusted-bad-"));
    const file = join(bad, name);
    writeFileSync(file, typeof manifest === "string" ? manifest : JSON.stringify(manifest));
    return {
      file,
      start: () =>
        startSiblingServer({ TRUSTED_DOCUMENTS: bad, TRUSTED_DOCUMENTS_MODE: "require" }).finally(
          () => rmSync(bad, { recursive: true, force: true }),
        ),
    };
  };

  it("names the file and the id of what is wrong", async () => {
    const wrongHash = startWith({ [`sha256:${sha256("{ __typename }")}`]: CUSTOMERS });
    await expect(wrongHash.start()).rejects.toThrow(
      `${wrongHash.file}: the id sha256:${sha256("{ __typename }")} is not the sha256 of its document`,
    );
    const sha1 = createHash("sha1").update("{ __typename }").digest("hex");
    const wrongSha1 = startWith({ [sha1]: CUSTOMERS });
    await expect(wrongSha1.start()).rejects.toThrow(
      `the id ${sha1} is not the sha1 of its document`,
    );
    const invalid = startWith({ [sha256("{ nope }")]: "{ nope }" });
    await expect(invalid.start()).rejects.toThrow(
      new RegExp(`${invalid.file}: the document of id ${sha256("{ nope }")} is not valid`),
    );
    const unparsable = startWith({ broken: "query {" });
    await expect(unparsable.start()).rejects.toThrow(/the document of id broken does not parse/);
    let deep = "id"; // customers → nodes → notes → nodes → customer → notes …, past DEPTH_LIMIT
    for (let i = 0; i < 6; i++) deep = `notes(first: 1) { nodes { customer { ${deep} } } }`;
    deep = `{ customers(first: 1) { nodes { ${deep} } } }`;
    await expect(startWith({ deep }).start()).rejects.toThrow(
      /the document of id deep is deeper than DEPTH_LIMIT/,
    );
    await expect(startWith("[1, 2]").start()).rejects.toThrow(/must be a JSON object/);
    await expect(startWith("{ not json").start()).rejects.toThrow(/is not readable JSON/);
  });

  it("refuses one id naming two documents in two manifests", async () => {
    const two = mkdtempSync(join(tmpdir(), "trusted-two-"));
    try {
      writeFileSync(join(two, "a.json"), JSON.stringify({ customers: CUSTOMERS }));
      writeFileSync(join(two, "b.json"), JSON.stringify({ customers: ARBITRARY }));
      await expect(
        startSiblingServer({ TRUSTED_DOCUMENTS: two, TRUSTED_DOCUMENTS_MODE: "allow" }),
      ).rejects.toThrow("the id customers names different documents in a.json and b.json");
    } finally {
      rmSync(two, { recursive: true, force: true });
    }
  });

  it("needs TRUSTED_DOCUMENTS for allow and require, and says when it is set but off", () => {
    expect(() => parseConfig({ NODE_ENV: "test", TRUSTED_DOCUMENTS_MODE: "require" })).toThrow(
      "TRUSTED_DOCUMENTS_MODE=require needs TRUSTED_DOCUMENTS",
    );
    expect(() => parseConfig({ NODE_ENV: "test", TRUSTED_DOCUMENTS_MODE: "sometimes" })).toThrow(
      "TRUSTED_DOCUMENTS_MODE",
    );
    // manifests named but the mode left off: said at start, nothing loaded
    const { config, warnings } = parseConfig({ NODE_ENV: "test", TRUSTED_DOCUMENTS: dir });
    expect(config.trustedDocuments).toEqual({ mode: "off", path: undefined });
    expect(warnings.join("\n")).toContain("TRUSTED_DOCUMENTS_MODE is off");
  });
});
