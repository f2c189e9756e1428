import { readFileSync } from "node:fs";
import { buildSchema, findBreakingChanges } from "graphql";
import { describe, expect, it } from "vitest";
import { buildApiSchema, printApiSchema, SCHEMA_FILE } from "../../src/graphql/schema.js";

describe("the emitted schema", () => {
  it("is what the code builds (run `npm run schema:emit` after changing a type)", async () => {
    const built = printApiSchema(await buildApiSchema());
    expect(readFileSync(SCHEMA_FILE, "utf8")).toBe(built);
  });

  it("has no breaking change against the public contract", async () => {
    const contract = buildSchema(
      readFileSync(new URL("../fixtures/contract.graphql", import.meta.url), "utf8"),
    );
    const changes = findBreakingChanges(contract, await buildApiSchema());
    expect(changes.map((c) => c.description)).toEqual([]);
  });

  it("would notice a breaking change (the check itself works)", async () => {
    const contract = buildSchema(
      readFileSync(new URL("../fixtures/contract.graphql", import.meta.url), "utf8"),
    );
    const broken = buildSchema(
      printApiSchema(await buildApiSchema()).replace("taxIdLast4: String", "taxIdLast4: Int"),
    );
    expect(findBreakingChanges(contract, broken).length).toBeGreaterThan(0);
  });
});
