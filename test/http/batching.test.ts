import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, type Tenant } from "../support/fixtures.js";
import { sharedTestServer, startSiblingServer, type TestServer } from "../support/server.js";

let url: string;
let batching: TestServer;
let tenant: Tenant;

const post = (body: unknown, token?: string, at = url) =>
  fetch(`${at}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });

beforeAll(async () => {
  // Batching is off by default (BATCH_LIMIT=1); an operator may allow up to 10.
  batching = await startSiblingServer({ BATCH_LIMIT: "10" });
  ({ url } = batching);
  tenant = await createTenant((await sharedTestServer()).url, "batch");
});
afterAll(async () => {
  await batching.close();
});

describe("batching off (the default)", () => {
  it("refuses any JSON array, naming the setting, and runs nothing of it", async () => {
    const shared = (await sharedTestServer()).url;
    for (const batch of [
      [{ query: "{ __typename }" }],
      [{ query: "{ me { id } }" }, { query: "{ __typename }" }],
    ]) {
      const res = await post(batch, tenant.members.VIEWER.token, shared);
      expect(res.status).toBe(400);
      const body: any = await res.json();
      expect(body.errors[0].extensions.code).toBe("BATCH_LIMIT_EXCEEDED");
      expect(body.errors[0].message).toContain("BATCH_LIMIT");
    }
    // one operation, as an object, is served
    const one = await post({ query: "{ me { role } }" }, tenant.members.VIEWER.token, shared);
    expect(await one.json()).toMatchObject({ data: { me: { role: "VIEWER" } } });
  });
});

describe("batched requests, where an operator allows them", () => {
  it("run each operation and answer in order", async () => {
    const res = await post(
      [{ query: "{ me { role } }" }, { query: "query Org { organization { name } }" }],
      tenant.members.VIEWER.token,
    );
    expect(res.status).toBe(200);
    // toMatchObject: each result also reports its cost in extensions.cost.
    expect(await res.json()).toMatchObject([
      { data: { me: { role: "VIEWER" } } },
      { data: { organization: { name: tenant.name } } },
    ]);
  });

  it("refuses more operations than the limit, running none of them", async () => {
    const batch = Array.from({ length: 11 }, () => ({ query: "{ me { id } }" }));
    const res = await post(batch, tenant.members.VIEWER.token);
    expect(res.status).toBe(400);
    const body: any = await res.json();
    expect(body.errors[0].extensions.code).toBe("BATCH_LIMIT_EXCEEDED");
    const ten = await post(batch.slice(0, 10), tenant.members.VIEWER.token);
    expect(ten.status).toBe(200);
    expect(await ten.json()).toHaveLength(10);
  });

  it("refuses a batch with a bad token as a whole with 401", async () => {
    const res = await post(
      [{ query: "{ me { id } }" }, { query: "{ __typename }" }],
      "not.a.token",
    );
    expect(res.status).toBe(401);
    const body: any = await res.json();
    expect(body.map((r: any) => r.errors[0].extensions.code)).toEqual([
      "UNAUTHENTICATED",
      "UNAUTHENTICATED",
    ]);
  });
});
