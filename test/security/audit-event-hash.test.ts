import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson, GENESIS_HASH, hashEvent } from "../../src/security/audit/event.js";

/*
 * hashEvent's encoding is part of every stored chain: an event hashed differently from how it
 * was written fails `npm run audit:verify`. These hashes were computed by the first release's
 * encoding (canonicalJson of an object of the columns), so any change to it shows here.
 */

type HashedEvent = Parameters<typeof hashEvent>[0];

const event: HashedEvent = {
  id: "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
  seq: 42,
  orgId: "0192f3a4-0000-7000-8000-000000000001",
  at: new Date("2026-11-28T04:30:00.123Z"),
  actorType: "USER",
  actorId: "0192f3a4-0000-7000-8000-000000000002",
  ip: "203.0.113.7",
  userAgent: 'Mozilla/5.0 "quoted" \u00e9\u2028',
  operationType: "query",
  operationName: "Customers",
  documentHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
  variables: { z: [1, { b: null, a: "x" }], a: { é: true, "\u0000": 1.5 } },
  outcome: "DENIED",
  errorCodes: ["FORBIDDEN"],
  sensitiveFields: ["Customer.email", "Customer.phone"],
  deniedFields: ["Customer.taxId"],
  requestedCost: 52,
  actualCost: 51,
  requestId: "req-1",
  durationMs: 7,
  prevHash: GENESIS_HASH,
};

const anonymous: HashedEvent = {
  ...event,
  orgId: null,
  actorId: null,
  userAgent: null,
  operationName: null,
  variables: null,
  requestedCost: null,
  actualCost: null,
  errorCodes: [],
  sensitiveFields: [],
  deniedFields: [],
};

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("the audit event hash", () => {
  it("is the hash stored chains were written with", () => {
    expect(hashEvent(event)).toBe(
      "c7db1a76174e09e82062df60589b225f2d88d4a632c6e86292535d674161c54a",
    );
    expect(hashEvent(anonymous)).toBe(
      "8bb128881bc5b9526e8a27fd7c65191c4fd7045156f15bd519687eff06030309",
    );
  });

  it("is SHA-256 of the canonical JSON of every column but the hash, whatever the key order", () => {
    const reversed = Object.fromEntries(Object.entries(event).reverse()) as HashedEvent;
    expect(hashEvent(reversed)).toBe(sha256(canonicalJson(event)));
    expect(hashEvent(anonymous)).toBe(sha256(canonicalJson(anonymous)));
  });

  it("leaves out a column that is undefined, as canonical JSON does", () => {
    const partial = { ...event, variables: undefined } as unknown as HashedEvent;
    expect(hashEvent(partial)).toBe(sha256(canonicalJson(partial)));
    expect(hashEvent(partial)).not.toBe(hashEvent(event));
  });

  it("changes with any column, the chain position included", () => {
    const hash = hashEvent(event);
    for (const [name, value] of Object.entries({
      seq: 43,
      prevHash: "f".repeat(64),
      outcome: "SUCCESS",
      at: new Date("2026-11-28T04:30:00.124Z"),
      variables: { z: [1, { b: null, a: "y" }], a: { é: true, "\u0000": 1.5 } },
      deniedFields: [],
    })) {
      expect(hashEvent({ ...event, [name]: value }), name).not.toBe(hash);
    }
  });

  it("does not hash a column that is not part of the event", () => {
    const withHash = { ...event, hash: "a".repeat(64) } as HashedEvent;
    expect(hashEvent(withHash)).toBe(hashEvent(event));
  });
});
