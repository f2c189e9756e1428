import type { GraphQLSchema } from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import { buildApiSchema } from "../../src/graphql/schema.js";
import { SchemaViews } from "../../src/security/authz/schema-view.js";
import { ANONYMOUS, type Principal } from "../../src/security/principal.js";

let schema: GraphQLSchema;
beforeAll(async () => {
  schema = await buildApiSchema();
});

const user = (id: string, role: "ADMIN" | "VIEWER"): Principal => ({
  kind: "user",
  id,
  orgId: "org",
  role,
});
const client = (id: string, scopes: string[]): Principal =>
  ({ kind: "client", id, orgId: "org", scopes: new Set(scopes) }) as Principal;

describe("schema views are made once per grant", () => {
  it("principals with the same role, or the same scopes in any order, share one view", () => {
    const views = new SchemaViews(schema);
    expect(views.of(user("a", "VIEWER"))).toBe(views.of(user("b", "VIEWER")));
    expect(views.of(client("c", ["users:read", "customers:read"]))).toBe(
      views.of(client("d", ["customers:read", "users:read"])),
    );
    expect(views.of(ANONYMOUS)).toBe(views.of(ANONYMOUS));
  });

  it("different grants get different views", () => {
    const views = new SchemaViews(schema);
    const viewer = views.of(user("a", "VIEWER"));
    expect(views.of(user("a", "ADMIN"))).not.toBe(viewer);
    expect(views.of(client("c", ["customers:read"]))).not.toBe(
      views.of(client("c", ["customers:read", "customers:pii"])),
    );
  });

  it("keeps at most its cap of views, dropping the oldest", () => {
    const views = new SchemaViews(schema, 2);
    const first = views.of(user("a", "VIEWER"));
    views.of(user("a", "ADMIN"));
    views.of(ANONYMOUS);
    expect(views.of(user("b", "VIEWER"))).not.toBe(first); // made again
  });
});
