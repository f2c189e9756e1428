import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type AuditResult, serverAudits } from "graphql-http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiClient } from "../../support/api-clients.js";
import { PASSWORD, uniqueEmail } from "../../support/fixtures.js";
import { dataOf, gql } from "../../support/graphql.js";
import { productionEnv, startServer, type TestServer } from "../../support/server.js";

/*
 * The server as real client tooling meets it, in production mode: the GraphQL-over-HTTP spec's
 * audit suite (graphql-http) and a partner generating typed clients with graphql-codegen.
 */

let server: TestServer;
let partnerToken: string;

beforeAll(async () => {
  server = await startServer(productionEnv());
  const admin = dataOf(
    await gql(
      server.url,
      `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`,
      {
        input: {
          organizationName: "Partner Host",
          displayName: "Admin",
          email: uniqueEmail("spec"),
          password: PASSWORD,
        },
      },
    ),
  ).signUp as { accessToken: string };
  partnerToken = (await createApiClient(server.url, admin.accessToken, ["customers:read"])).token;
});

afterAll(async () => {
  await server?.close();
});

async function runAudits(headers: Record<string, string>): Promise<AuditResult[]> {
  const fetchFn = (input: string, init: RequestInit = {}) =>
    fetch(input, { ...init, headers: { ...(init.headers as Record<string, string>), ...headers } });
  const audits = serverAudits({ url: `${server.url}/graphql`, fetchFn });
  const results: AuditResult[] = [];
  for (const audit of audits) results.push(await audit.fn()); // one at a time: a 2-core machine
  return results;
}

const summary = (results: AuditResult[]) =>
  results.filter((r) => r.status !== "ok").map((r) => `${r.id} ${r.name}`);

describe("GraphQL over HTTP (graphql-http serverAudits)", () => {
  it("passes every MUST audit for a partner sending its token", async () => {
    const results = await runAudits({ authorization: `Bearer ${partnerToken}` });
    const failedMusts = results.filter((r) => r.status === "error");
    expect(failedMusts.map((r) => `${r.id} ${r.name}`)).toEqual([]);
    expect(results.filter((r) => r.name.startsWith("MUST")).length).toBeGreaterThan(10);
    // The SHOULD/MAY audits left as warnings are deliberate (see the report / README).
    console.info(
      `graphql-http audits: ${results.length} run, warnings:\n${summary(results).join("\n")}`,
    );
  });

  it("passes every MUST audit for a client that also sends Apollo's CSRF-prevention header", async () => {
    const results = await runAudits({
      authorization: `Bearer ${partnerToken}`,
      "apollo-require-preflight": "true",
    });
    expect(results.filter((r) => r.status === "error").map((r) => r.id)).toEqual([]);
    console.info(`with apollo-require-preflight, warnings:\n${summary(results).join("\n")}`);
  });
});

describe("a partner's codegen", () => {
  const exec = promisify(execFile);
  /** Runs the CLI; a failure's message carries its output (codegen reports on stdout). */
  const codegen = async (dir: string) => {
    try {
      // As a partner runs it: outside the test runner's environment (listr2 is silent under VITEST).
      // Run from the project, where the typescript plugin is installed, as a partner would.
      const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? dir };
      const config = join(dir, "codegen.json");
      return await exec(bin, ["--config", config], { cwd: process.cwd(), env, timeout: 60_000 });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`graphql-codegen failed:\n${stdout ?? ""}\n${stderr ?? ""}`);
    }
  };
  const bin = join(process.cwd(), "node_modules", ".bin", "graphql-codegen");

  function project(token: string | undefined): string {
    const dir = mkdtempSync(join(tmpdir(), "edge-codegen-"));
    const endpoint = `${server.url}/graphql`;
    const schema = token
      ? { [endpoint]: { headers: { Authorization: `Bearer ${token}` } } }
      : endpoint;
    writeFileSync(
      join(dir, "codegen.json"),
      JSON.stringify({
        schema,
        generates: { [join(dir, "types.ts")]: { plugins: ["typescript"] } },
      }),
    );
    return dir;
  }

  it("introspects the production server with a client token and generates TypeScript types", async () => {
    const dir = project(partnerToken);
    await codegen(dir);
    const types = readFileSync(join(dir, "types.ts"), "utf8");
    expect(types).toContain("export type Customer = ");
    expect(types).toContain("export type Query = ");
    expect(types).toMatch(/export enum Scope \{/);
  });

  it("cannot introspect without a token", async () => {
    const dir = project(undefined);
    await expect(codegen(dir)).rejects.toThrow(/Introspection requires an access token/);
  });
});
