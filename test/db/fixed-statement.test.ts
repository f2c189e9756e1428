import { describe, expect, it } from "vitest";
import { uuidArray } from "../../src/db/fixed-statement.js";

describe("uuidArray", () => {
  it("binds UUIDs as one array literal, in either case", () => {
    expect(
      uuidArray(["0190f0a0-0000-7000-8000-00000000000a", "0190F0A0-0000-7000-8000-00000000000B"]),
    ).toBe("{0190f0a0-0000-7000-8000-00000000000a,0190F0A0-0000-7000-8000-00000000000B}");
    expect(uuidArray([])).toBe("{}");
  });

  it("leaves out what cannot name a row, so nothing can change the literal's shape", () => {
    const id = "0190f0a0-0000-7000-8000-00000000000a";
    for (const bad of ["", "x", `${id},${id}`, `${id}}`, `"${id}"`, "NULL", ` ${id}`, `${id}\n`]) {
      expect(uuidArray([bad, id]), JSON.stringify(bad)).toBe(`{${id}}`);
    }
  });
});
