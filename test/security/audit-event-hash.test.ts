import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { AuditEventRow } from "../../src/db/schema.js";
import {
  canonicalJson,
  chainHash,
  contentHash,
  expectedHash,
  GENESIS_HASH,
  LEGACY_CHAIN,
  legacyEventHash,
} from "../../src/security/audit/event.js";

/*
 * The hash encodings are part of every stored chain: an event hashed differently from how it
 * was written fails `npm run audit:verify`. The legacy hashes below were computed by the first
 * release's encoding (canonicalJson of an object of the columns), so any change to it shows here.
 */

const ORG_CHAIN = "0192f3a4-0000-7000-8000-000000000001";

const event: AuditEventRow = {
  id: "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
  chainId: ORG_CHAIN,
  seq: 42,
  orgId: ORG_CHAIN,
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
  hash: "",
};

const anonymous: AuditEventRow = {
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
const withoutKeys = (row: AuditEventRow, ...keys: string[]) =>
  Object.fromEntries(Object.entries(row).filter(([key]) => !keys.includes(key)));

describe("the legacy event hash (the single chain of the first releases)", () => {
  it("is the hash stored chains were written with", () => {
    expect(legacyEventHash(event)).toBe(
      "c7db1a76174e09e82062df60589b225f2d88d4a632c6e86292535d674161c54a",
    );
    expect(legacyEventHash(anonymous)).toBe(
      "8bb128881bc5b9526e8a27fd7c65191c4fd7045156f15bd519687eff06030309",
    );
  });

  it("is SHA-256 of the canonical JSON of the first release's columns, whatever the key order", () => {
    const reversed = Object.fromEntries(Object.entries(event).reverse()) as AuditEventRow;
    expect(legacyEventHash(reversed)).toBe(
      sha256(canonicalJson(withoutKeys(event, "chainId", "hash"))),
    );
  });

  it("changes with any column, the chain position included", () => {
    const hash = legacyEventHash(event);
    for (const [name, value] of Object.entries({
      seq: 43,
      prevHash: "f".repeat(64),
      outcome: "SUCCESS",
      at: new Date("2026-11-28T04:30:00.124Z"),
      variables: { z: [1, { b: null, a: "y" }], a: { é: true, "\u0000": 1.5 } },
      deniedFields: [],
    })) {
      expect(legacyEventHash({ ...event, [name]: value }), name).not.toBe(hash);
    }
  });

  it("is the hash expected of an event of the legacy chain", () => {
    expect(expectedHash({ ...event, chainId: LEGACY_CHAIN })).toBe(legacyEventHash(event));
  });
});

describe("the chained event hash (a chain per organization)", () => {
  it("hashes the content: canonical JSON of every column but its place in the chain", () => {
    expect(contentHash(event)).toBe(
      sha256(canonicalJson(withoutKeys(event, "seq", "prevHash", "hash"))),
    );
    const reversed = Object.fromEntries(Object.entries(event).reverse()) as AuditEventRow;
    expect(contentHash(reversed)).toBe(contentHash(event));
  });

  it("links: SHA-256 of the previous hash's 32 bytes and the content hash's 32 bytes", () => {
    const content = contentHash(event);
    const joined = Buffer.concat([Buffer.from(GENESIS_HASH, "hex"), Buffer.from(content, "hex")]);
    expect(chainHash(GENESIS_HASH, content)).toBe(
      createHash("sha256").update(joined).digest("hex"),
    );
    expect(expectedHash(event)).toBe(chainHash(event.prevHash, content));
  });

  it("changes with any column, the chain it belongs to included, and with the previous hash", () => {
    const hash = expectedHash(event);
    for (const [name, value] of Object.entries({
      chainId: "0192f3a4-0000-7000-8000-000000000009",
      prevHash: "f".repeat(64),
      outcome: "SUCCESS",
      at: new Date("2026-11-28T04:30:00.124Z"),
      variables: { z: [1, { b: null, a: "y" }], a: { é: true, "\u0000": 1.5 } },
      deniedFields: [],
      actorId: null,
    })) {
      expect(expectedHash({ ...event, [name]: value }), name).not.toBe(hash);
    }
  });

  it("does not depend on the seq (the link does: removing an event breaks the next one's)", () => {
    const renumbered: typeof event = { ...event, seq: 7 };
    expect(contentHash(renumbered)).toBe(contentHash(event));
  });

  it("does not hash a column that is not part of the event", () => {
    const withHash: typeof event = { ...event, hash: "a".repeat(64) };
    expect(contentHash(withHash)).toBe(contentHash(event));
  });
});
