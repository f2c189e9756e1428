import { readFileSync } from "node:fs";
import {
  getNamedType,
  type GraphQLSchema,
  isInputObjectType,
  isIntrospectionType,
  isObjectType,
} from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import { buildApiSchema, buildResolverSchema, PERMISSIONS_FILE } from "../../src/graphql/schema.js";
import { renderPermissions } from "../../src/security/authz/document.js";
import { POLICY } from "../../src/security/authz/policy.js";

let schema: GraphQLSchema;
beforeAll(async () => {
  schema = await buildApiSchema();
});

/** Every Type.field of the object types (Query, Mutation, objects, connections, edges, payloads). */
function coordinatesOf(s: GraphQLSchema): string[] {
  return Object.values(s.getTypeMap())
    .filter((type) => isObjectType(type) && !isIntrospectionType(type))
    .flatMap((type) =>
      isObjectType(type) ? Object.keys(type.getFields()).map((f) => `${type.name}.${f}`) : [],
    );
}

describe("the access policy table", () => {
  it("names every field of the built schema, so nothing falls to the fallback by accident", () => {
    const unlisted = coordinatesOf(schema).filter((c) => {
      const [type, field] = c.split(".") as [string, string];
      return POLICY[type]?.[field] === undefined;
    });
    expect(unlisted).toEqual([]);
  });

  it("names no field that does not exist (a renamed field cannot keep a stale rule)", () => {
    const existing = new Set(coordinatesOf(schema));
    const stale = Object.entries(POLICY).flatMap(([type, fields]) =>
      Object.keys(fields)
        .map((f) => `${type}.${f}`)
        .filter((c) => !existing.has(c)),
    );
    expect(stale).toEqual([]);
  });

  it("names only arguments that exist, down to the input field (a typo cannot disable a rule)", () => {
    const argumentPaths = Object.entries(POLICY).flatMap(([type, fields]) =>
      Object.entries(fields).flatMap(([field, policy]) =>
        policy.kind === "grant"
          ? Object.keys(policy.arguments ?? {}).map((path) => ({ type, field, path }))
          : [],
      ),
    );
    expect(argumentPaths.map((a) => `${a.type}.${a.field}(${a.path})`)).toContain(
      "Query.customers(filter.email)",
    );
    const missing = argumentPaths.filter(({ type, field, path }) => {
      const owner = schema.getType(type);
      if (!isObjectType(owner)) return true;
      const [argName, ...inputPath] = path.split(".");
      let argType = owner.getFields()[field]?.args.find((a) => a.name === argName)?.type;
      for (const key of inputPath) {
        const input = argType && getNamedType(argType);
        if (!isInputObjectType(input)) return true;
        argType = input.getFields()[key]?.type;
      }
      return argType === undefined;
    });
    expect(missing).toEqual([]);
  });

  it("the coverage walk would notice a field without a rule", async () => {
    const bare = await buildResolverSchema();
    const coordinates = coordinatesOf(bare);
    expect(coordinates).toContain("Customer.taxId");
    expect(coordinates).toContain("PageInfo.hasNextPage");
    expect(coordinates).toContain("Mutation.signUp");
    expect(coordinates.length).toBeGreaterThan(100);
  });

  it("is committed as schema/permissions.md (run `npm run schema:emit` after changing it)", () => {
    expect(readFileSync(PERMISSIONS_FILE, "utf8")).toBe(renderPermissions(schema));
  });

  it("ends each protected field's description with who may use it", () => {
    const fieldOf = (type: string, field: string) => {
      const t = schema.getType(type);
      if (!isObjectType(t)) throw new Error(type);
      return t.getFields()[field]!;
    };
    expect(fieldOf("Customer", "email").description).toBe(
      "Requires: ADMIN, AGENT, or scope customers:pii.",
    );
    expect(fieldOf("Customer", "taxId").description).toBe("Requires: ADMIN.");
    expect(fieldOf("User", "email").description).toBe("Requires: ADMIN, or the user themself.");
    expect(fieldOf("Query", "organization").description).toBe(
      "The caller's organization.\n\nRequires: ADMIN, AGENT, VIEWER, AUDITOR, or any API client.",
    );
    expect(fieldOf("Mutation", "signUp").description).not.toContain("Requires");
  });
});
