import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import type * as DrizzleKitApi from "drizzle-kit/api";
import { describe, expect, it } from "vitest";
import * as schema from "../../src/db/schema.js";
import { projectPath } from "../../src/paths.js";

// drizzle-kit's API is CommonJS only.
const kit = createRequire(import.meta.url)("drizzle-kit/api") as typeof DrizzleKitApi;

describe("migrations", () => {
  it("match the Drizzle schema (run `npm run db:generate` after changing src/db/schema.ts)", async () => {
    const metaDir = projectPath("drizzle", "meta");
    const snapshots = readdirSync(metaDir)
      .filter((f) => f.endsWith("_snapshot.json"))
      .sort();
    const latest = JSON.parse(readFileSync(join(metaDir, snapshots.at(-1)!), "utf8"));
    const current = kit.generateDrizzleJson(schema, latest.id);
    const pending = await kit.generateMigration(latest, current);
    expect(pending).toEqual([]);
  });

  it("would notice a column the migrations lack (the check itself works)", async () => {
    const metaDir = projectPath("drizzle", "meta");
    const first = JSON.parse(readFileSync(join(metaDir, "0000_snapshot.json"), "utf8"));
    first.tables["public.customers"].columns = {};
    const pending = await kit.generateMigration(first, kit.generateDrizzleJson(schema, first.id));
    expect(pending.join("\n")).toContain("customers");
  });
});
