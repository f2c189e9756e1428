import { generateKeyPairSync, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config.js";
import { BlindIndex, FieldCipher, PiiDecryptionError } from "../../src/security/pii.js";

const key = () => randomBytes(32).toString("base64");
const signingKey = generateKeyPairSync("ed25519")
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
const production = (env: Record<string, string>) =>
  parseConfig({
    NODE_ENV: "production",
    JWT_SECRET: "k3Y-w1th-enough-entropy-for-hs256-signing!!",
    BLIND_INDEX_KEY: key(),
    AUDIT_SIGNING_KEY: signingKey,
    DATABASE_URL: "postgres://api@db.internal:5432/records",
    ...env,
  });

describe("personal-data keys in the configuration", () => {
  it("takes a key ring, the active key and an optional next blind-index key", () => {
    const [a, b, next] = [key(), key(), key()];
    const { config } = production({
      PII_KEYS: `a:${a}, b:${b}`,
      PII_ACTIVE_KEY: "b",
      BLIND_INDEX_KEY_NEXT: next,
    });
    expect([...config.pii.keys.keys()]).toEqual(["a", "b"]);
    expect(config.pii.activeKeyId).toBe("b");
    expect(config.pii.blindIndexNextKey?.toString("base64")).toBe(next);
  });

  it.each([
    [{ PII_KEYS: `a:${key()},a:${key()}`, PII_ACTIVE_KEY: "a" }, "PII_KEYS: names key id a twice"],
    [{ PII_KEYS: `a:${randomBytes(16).toString("base64")}`, PII_ACTIVE_KEY: "a" }, "PII_KEYS"],
    [{ PII_KEYS: `a:${key()}`, PII_ACTIVE_KEY: "b" }, "PII_ACTIVE_KEY must name a key id"],
    [
      { PII_KEYS: `a:${key()}`, PII_ACTIVE_KEY: "a", BLIND_INDEX_KEY_NEXT: "short" },
      "BLIND_INDEX_KEY_NEXT",
    ],
  ])("refuses %o", (env, message) => {
    expect(() => production(env)).toThrow(ConfigError);
    expect(() => production(env)).toThrow(message);
  });

  it("refuses a next blind-index key equal to the current one", () => {
    const same = key();
    expect(() =>
      production({
        PII_KEYS: `a:${key()}`,
        PII_ACTIVE_KEY: "a",
        BLIND_INDEX_KEY: same,
        BLIND_INDEX_KEY_NEXT: same,
      }),
    ).toThrow("BLIND_INDEX_KEY_NEXT must differ from BLIND_INDEX_KEY");
  });
});

describe("FieldCipher and BlindIndex", () => {
  const binding = { table: "customers", column: "email", rowId: "r1" };

  it("decrypts under any key of the ring and encrypts under the active one", () => {
    const keys = new Map([
      ["old", randomBytes(32)],
      ["new", randomBytes(32)],
    ]);
    const old = new FieldCipher(keys, "old").encrypt("a@b.example", binding);
    const rotated = new FieldCipher(keys, "new");
    expect(rotated.decrypt(old, binding)).toBe("a@b.example");
    expect(rotated.isUnderActiveKey(old)).toBe(false);
    expect(rotated.encrypt("a@b.example", binding)).toMatch(/^v1\.new\./);
    // a ring without the old key cannot read it, and says so without the value
    const withoutOld = new FieldCipher(new Map([["new", keys.get("new")!]]), "new");
    expect(() => withoutOld.decrypt(old, binding)).toThrow(PiiDecryptionError);
    expect(() => withoutOld.decrypt(`${old}.extra`, binding)).toThrow(PiiDecryptionError);
  });

  it("hashes emails canonically, under the next key too while it rotates", () => {
    const [current, next] = [randomBytes(32), randomBytes(32)];
    const stable = new BlindIndex(current);
    const rotating = new BlindIndex(current, next);
    expect(stable.email(" Ada@Example.COM ")).toBe(stable.email("ada@example.com"));
    expect(stable.emailNext("ada@example.com")).toBeNull();
    expect(stable.emailCandidates("ada@example.com")).toEqual([stable.email("ada@example.com")]);
    expect(rotating.emailCandidates("ada@example.com")).toEqual([
      stable.email("ada@example.com"),
      new BlindIndex(next).email("ada@example.com"),
    ]);
  });
});
