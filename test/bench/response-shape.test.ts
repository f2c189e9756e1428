import { describe, expect, it } from "vitest";
import { firstDifference, shapeOf } from "../../bench/support/response-shape.js";

/* The bench's check that the servers answer an operation alike (bench/run.ts checkSameShapes). */

const page = (names: (string | null)[]) => ({
  data: { customers: { nodes: names.map((name, i) => ({ id: `id-${i}`, name })) } },
});

describe("response shapes", () => {
  it("are equal for answers that differ only in their values", () => {
    const a = shapeOf(page(["Ada", "Grace"]));
    const b = shapeOf(page(["Alan", "Edsger"]));
    expect(a).toEqual(b);
    expect(firstDifference(a, b)).toBeUndefined();
  });

  it("tell a different number of nodes apart", () => {
    expect(firstDifference(shapeOf(page(["Ada", "Grace"])), shapeOf(page(["Ada"])))).toBe(
      "$.data.customers.nodes: 2 items against 1",
    );
  });

  it("tell a null from a value, and a missing field, apart", () => {
    expect(firstDifference(shapeOf(page(["Ada"])), shapeOf(page([null])))).toBe(
      '$.data.customers.nodes.0.name: "string" against "null"',
    );
    expect(firstDifference(shapeOf({ data: { me: { id: "1" } } }), shapeOf({ data: {} }))).toBe(
      '$.data.me: {"id":"string"} against undefined',
    );
  });

  it("tell an error answer from data", () => {
    const failed = { errors: [{ message: "boom" }], data: null };
    expect(firstDifference(shapeOf(page(["Ada"])), shapeOf(failed))).toMatch(/^\$\.data: /);
  });
});
