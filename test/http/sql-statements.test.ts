import { beforeAll, describe, expect, it } from "vitest";
import { createCustomer, createTenant, type Tenant } from "../support/fixtures.js";
import { dataOf, gql } from "../support/graphql.js";
import { startServer, type TestServer } from "../support/server.js";

/*
 * No N+1: every object reached through a field is batched per request, so the nested query runs
 * a constant number of SQL statements whatever the page size. Counted with the driver's logger on
 * a server of its own (nothing else runs on it while a request is measured).
 */
const NESTED = `query($first: Int!) {
  customers(first: $first) { nodes {
    createdBy { displayName }
    notes(first: 5) { nodes { author { displayName } } }
  } }
}`;

let server: TestServer;
let tenant: Tenant;

beforeAll(async () => {
  // A query's response waits for its audit event (group commit): its write is counted too.
  server = await startServer();
  tenant = await createTenant(server.url, "sql");
  for (let i = 0; i < 50; i++) {
    const { id } = await createCustomer(server.url, tenant.members.AGENT.token, { name: `C${i}` });
    if (i % 5 === 0) {
      for (const token of [tenant.members.AGENT.token, tenant.members.ADMIN.token]) {
        await gql(
          server.url,
          `mutation($c: ID!) { addNote(customerId: $c, body: "n") { id } }`,
          { c: id },
          { token },
        );
      }
    }
  }
  return () => server.close();
});

async function statementsFor(
  first: number,
): Promise<{ statements: number; customers: number; notes: number }> {
  const stats = server.app.services.database.stats;
  const before = stats.statements;
  const res = await gql(server.url, NESTED, { first }, { token: tenant.members.AGENT.token });
  const statements = stats.statements - before;
  const nodes = dataOf(res).customers.nodes as { notes: { nodes: unknown[] } }[];
  return {
    statements,
    customers: nodes.length,
    notes: nodes.reduce((n, c) => n + c.notes.nodes.length, 0),
  };
}

describe("SQL statements per request", () => {
  it("stay constant (at most 6, its audit event included) for the nested customers → createdBy, notes → author query", async () => {
    const small = await statementsFor(5);
    const large = await statementsFor(50);
    expect(large.customers).toBe(50);
    expect(large.notes).toBe(20);
    expect(small.customers).toBe(5);
    expect(large.statements).toBe(small.statements);
    expect(large.statements).toBeLessThanOrEqual(6);
    console.info(`nested query: ${large.statements} SQL statements for 50 customers`);
  });

  it("a mutation is two with its audit event: insert, event (chain head moved in the same statement); its principal is kept", async () => {
    const stats = server.app.services.database.stats;
    await gql(server.url, `{ me { id } }`, {}, { token: tenant.members.AGENT.token }); // kept since
    const seen: string[] = [];
    const stop = server.app.services.database.observe((query) => seen.push(query));
    const before = stats.statements;
    const created = await createCustomer(server.url, tenant.members.AGENT.token, { name: "Five" });
    stop();
    expect(created.id).toBeTruthy();
    expect(stats.statements - before).toBe(2);
    expect(seen.filter((q) => /refresh_tokens/.test(q))).toEqual([]); // no principal lookup
    const appends = seen.filter((q) => /audit_events/.test(q));
    expect(appends).toHaveLength(1); // no "already stored?" check
    expect(appends[0]).toMatch(/audit_chains/);
  });
});
