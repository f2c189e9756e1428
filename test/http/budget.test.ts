import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant } from "../support/fixtures.js";
import { codesOf, dataOf, gql, type GraphQLResponse } from "../support/graphql.js";
import { sharedTestServer, startSiblingServer, type TestServer } from "../support/server.js";
import { redisTestUrl } from "../support/environment.js";

/*
 * Cost budgets over HTTP, with small budgets and slow restore rates so that the outcome does not
 * depend on how fast this machine is; recovery is polled, never timed.
 */

const servers: TestServer[] = [];
beforeAll(async () => {
  await sharedTestServer(); // the first start (embedded database) takes seconds
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/*
 * Organizations are created on the worker's shared server (same database), whose tokens these
 * servers accept: creating users costs points that the small test budgets must not pay.
 */
async function server(env: Record<string, string>): Promise<TestServer> {
  const started = await startSiblingServer(env);
  servers.push(started);
  return started;
}

async function tenantMembers(label: string) {
  return (await createTenant((await sharedTestServer()).url, label)).members;
}

/** An operation that costs exactly n points, requested and actual (n aliased `me` fields). */
const costing = (n: number) =>
  `{ ${Array.from({ length: n }, (_, i) => `m${i}: me { id }`).join(" ")} }`;

const costOf = (res: GraphQLResponse) =>
  res.body.extensions?.cost as {
    requestedQueryCost: number;
    actualQueryCost: number;
    throttleStatus: { maximumAvailable: number; currentlyAvailable: number; restoreRate: number };
  };

function expectRateLimited(res: GraphQLResponse): void {
  expect(res.status).toBe(429);
  expect(codesOf(res)).toEqual(["RATE_LIMITED"]);
  expect(res.body.data).toBeUndefined();
  expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  // the same seconds for programs that read the body only, under one name for every limit
  expect(res.body.errors?.[0]?.extensions?.retryAfterSeconds).toBe(
    Number(res.headers.get("retry-after")),
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("cost budgets", () => {
  it("refuses an operation the bucket cannot pay for, without running it", async () => {
    const { url } = await server({ BUDGET_POINTS: "25", BUDGET_RESTORE_PER_SECOND: "1" });
    const members = await tenantMembers("budget");
    const token = members.AGENT.token;
    const create = `mutation { createCustomer(input: { name: "Budgeted" }) { id } }`; // 10 points

    const first = await gql(url, create, {}, { token });
    expect(dataOf(first)).toHaveProperty("createCustomer.id");
    expect(costOf(first)).toMatchObject({
      requestedQueryCost: 10,
      actualQueryCost: 10,
      throttleStatus: { maximumAvailable: 25, restoreRate: 1 },
    });
    expect(costOf(first).throttleStatus.currentlyAvailable).toBeLessThanOrEqual(15);
    dataOf(await gql(url, create, {}, { token }));

    const refused = await gql(url, create, {}, { token });
    expectRateLimited(refused);
    expect(costOf(refused)).toMatchObject({ requestedQueryCost: 10, actualQueryCost: 0 });
    expect(costOf(refused).throttleStatus.currentlyAvailable).toBeLessThan(10);

    // The refused mutation did not run; reading the count costs 1 point, which is still there.
    const count = await gql(url, "{ customers { totalCount } }", {}, { token });
    expect(dataOf(count)).toEqual({ customers: { totalCount: 2 } });
    // Another user of the same organization has a bucket of its own.
    expect(dataOf(await gql(url, costing(10), {}, { token: members.VIEWER.token }))).toBeTruthy();
  });

  it("recovers at the restore rate", async () => {
    const { url } = await server({ BUDGET_POINTS: "20", BUDGET_RESTORE_PER_SECOND: "5" });
    const members = await tenantMembers("restore");
    const token = members.AGENT.token;
    dataOf(await gql(url, costing(10), {}, { token }));
    dataOf(await gql(url, costing(10), {}, { token }));
    expectRateLimited(await gql(url, costing(10), {}, { token }));

    let attempts = 0;
    let res: GraphQLResponse;
    do {
      await sleep(250);
      res = await gql(url, costing(10), {}, { token });
      attempts++;
    } while (res.status === 429 && attempts < 80);
    expect(dataOf(res)).toBeTruthy();
    expect(attempts).toBeGreaterThan(1); // it was refused until points came back
  });

  it("gives back the cost an operation requested but did not use", async () => {
    const { url } = await server({ BUDGET_POINTS: "200", BUDGET_RESTORE_PER_SECOND: "1" });
    const members = await tenantMembers("refund");
    const token = members.AGENT.token;
    const page = "{ customers(first: 100) { nodes { id } } }"; // 101 requested; no customers yet

    const first = await gql(url, page, {}, { token });
    expect(dataOf(first)).toEqual({ customers: { nodes: [] } });
    expect(costOf(first)).toMatchObject({ requestedQueryCost: 101, actualQueryCost: 1 });
    expect(costOf(first).throttleStatus.currentlyAvailable).toBeGreaterThanOrEqual(199);
    // Without the refund, 101 + 101 would not fit in 200.
    const second = await gql(url, page, {}, { token });
    expect(dataOf(second)).toEqual({ customers: { nodes: [] } });
  });

  it("limits anonymous callers per client IP with the anonymous budget", async () => {
    const { url } = await server({
      ANONYMOUS_BUDGET_POINTS: "10",
      ANONYMOUS_BUDGET_RESTORE_PER_SECOND: "1",
    });
    const first = await gql(url, costing(9));
    expect(first.status).toBe(200);
    expect(costOf(first)).toMatchObject({
      requestedQueryCost: 9,
      throttleStatus: { maximumAvailable: 10, restoreRate: 1 },
    });
    expectRateLimited(await gql(url, costing(9)));
    // A signed-in user is not charged to the IP's bucket.
    const members = await tenantMembers("anon");
    expect(dataOf(await gql(url, costing(9), {}, { token: members.AGENT.token }))).toBeTruthy();
  });

  it("charges every operation of a batch", async () => {
    const { url } = await server({
      BUDGET_POINTS: "25",
      BUDGET_RESTORE_PER_SECOND: "1",
      BATCH_LIMIT: "10",
    });
    const members = await tenantMembers("batch");
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${members.AGENT.token}`,
      },
      body: JSON.stringify(Array.from({ length: 3 }, () => ({ query: costing(10) }))),
    });
    const results = (await res.json()) as GraphQLResponse["body"][];
    const codes = results.map((r) => r.errors?.[0]?.extensions?.code ?? "OK");
    expect(codes.filter((c) => c === "OK")).toHaveLength(2);
    expect(codes.filter((c) => c === "RATE_LIMITED")).toHaveLength(1);
    expect(res.status).toBe(200); // partly served
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });
});

describe.skipIf(!redisTestUrl)("budgets shared by instances through Redis", () => {
  const redisUrl = redisTestUrl!;
  const budget = { BUDGET_POINTS: "25", BUDGET_RESTORE_PER_SECOND: "1" };

  it("cannot be doubled by spreading requests over two instances", async () => {
    const prefix = `test-budget:${randomBytes(6).toString("hex")}:`;
    const env = { ...budget, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix };
    const [a, b] = await Promise.all([server(env), server(env)]);
    const members = await tenantMembers("redis");
    const token = members.AGENT.token;

    dataOf(await gql(a.url, costing(10), {}, { token }));
    dataOf(await gql(b.url, costing(10), {}, { token }));
    expectRateLimited(await gql(a.url, costing(10), {}, { token }));
    expectRateLimited(await gql(b.url, costing(10), {}, { token }));
  });

  it("keeps serving, on this instance's memory, while Redis is unreachable", async () => {
    const { url } = await server({ ...budget, REDIS_URL: "redis://127.0.0.1:1" });
    const members = await tenantMembers("no-redis");
    const token = members.AGENT.token;
    const first = await gql(url, costing(10), {}, { token });
    expect(dataOf(first)).toBeTruthy();
    expect(costOf(first).throttleStatus.currentlyAvailable).toBeLessThanOrEqual(15);
    dataOf(await gql(url, costing(10), {}, { token }));
    expectRateLimited(await gql(url, costing(10), {}, { token }));
  });

  it("(control) instances without Redis each keep their own budget", async () => {
    const [a, b] = await Promise.all([server(budget), server(budget)]);
    const members = await tenantMembers("memory");
    const token = members.AGENT.token;

    for (const instance of [a, b, a, b]) {
      dataOf(await gql(instance.url, costing(10), {}, { token }));
    }
  });
});
