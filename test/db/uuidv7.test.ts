import { describe, expect, it } from "vitest";
import { uuidv7 } from "../../src/db/uuidv7.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("uuidv7", () => {
  it("is a version 7, RFC 9562 variant UUID carrying the time it was made", () => {
    const before = Date.now();
    const id = uuidv7();
    const after = Date.now();
    expect(id).toMatch(UUID_V7);
    const ms = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    // the counter may borrow a millisecond when many ids were made in this one
    expect(ms).toBeLessThanOrEqual(after + 1);
  });

  it("only ever increases within a process, even thousands of times in one millisecond", () => {
    const ids = Array.from({ length: 20_000 }, () => uuidv7());
    for (const id of ids) expect(id).toMatch(UUID_V7);
    const sorted = [...ids].sort();
    expect(sorted).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("keeps 62 random bits: ids of one millisecond differ beyond the counter", () => {
    const tails = new Set(Array.from({ length: 1_000 }, () => uuidv7().slice(19)));
    expect(tails.size).toBe(1_000);
  });
});
