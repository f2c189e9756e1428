import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../src/config.js";

const key = () => Buffer.alloc(32, 7).toString("base64");
const pkcs8 = (type: "ed25519" | "x25519") =>
  generateKeyPairSync(type as "ed25519")
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString();
const signingKey = pkcs8("ed25519");
const productionSecrets = {
  NODE_ENV: "production",
  JWT_SECRET: "k3Y-w1th-enough-entropy-for-hs256-signing!!",
  PII_KEYS: `k1:${key()}`,
  PII_ACTIVE_KEY: "k1",
  BLIND_INDEX_KEY: key(),
  AUDIT_SIGNING_KEY: signingKey,
  DATABASE_URL: "postgres://api@db.internal:5432/records",
};

const errorOf = (env: Record<string, string>) => {
  try {
    parseConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
};

describe("configuration", () => {
  it("has the documented defaults", () => {
    const { config } = parseConfig({ NODE_ENV: "test" });
    expect(config).toMatchObject({
      port: 4000,
      host: "0.0.0.0",
      bcryptRounds: 12,
      introspection: "authenticated",
      corsOrigins: [],
      limits: {
        depth: 10,
        cost: 1000,
        aliases: 15,
        directives: 50,
        tokens: 2000,
        batch: 1,
        bodyBytes: 100_000,
      },
      budgets: {
        principal: { points: 2000, restorePerSecond: 100 },
        anonymous: { points: 200, restorePerSecond: 10 },
      },
      databasePoolSize: 10,
      fairShare: { perPrincipal: 4, perOrganization: 4, waitMs: 1000, refusalHoldMs: 1000 },
      http: {
        requestTimeoutMs: 30_000,
        keepAliveTimeoutMs: 5_000,
        maxConnections: 1024,
        maxConnectionsPerAddress: 128,
      },
    });
    // bcrypt never takes more than half the cores
    expect(config.passwordHashConcurrency).toBe(
      Math.max(1, Math.floor(availableParallelism() / 2)),
    );
  });

  it("starts in production with strong secrets, and never seeds demo data there", () => {
    const { config } = parseConfig(productionSecrets);
    expect(config.isProduction).toBe(true);
    expect(config.seedDemoData).toBe(false);
    expect(errorOf({ ...productionSecrets, SEED_DEMO_DATA: "true" })).toMatch(/SEED_DEMO_DATA/);
  });

  it.each([
    ["JWT_SECRET"],
    ["PII_KEYS"],
    ["PII_ACTIVE_KEY"],
    ["BLIND_INDEX_KEY"],
    ["AUDIT_SIGNING_KEY"],
  ])("refuses to start in production without %s, naming it", (name) => {
    const env: Record<string, string> = { ...productionSecrets };
    delete env[name];
    expect(errorOf(env)).toContain(name);
  });

  it("refuses production on the embedded database unless ALLOW_EMBEDDED_DATABASE=true says so", () => {
    const embedded: Record<string, string> = { ...productionSecrets };
    delete embedded.DATABASE_URL;
    const message = errorOf(embedded);
    expect(message).toContain("DATABASE_URL must be set in production");
    expect(message).toContain("ALLOW_EMBEDDED_DATABASE=true");
    expect(errorOf({ ...embedded, ALLOW_EMBEDDED_DATABASE: "false" })).toBe(message);
    expect(errorOf({ ...embedded, ALLOW_EMBEDDED_DATABASE: "yes" })).toContain(
      "ALLOW_EMBEDDED_DATABASE",
    );

    const chosen = parseConfig({ ...embedded, ALLOW_EMBEDDED_DATABASE: "true" }).config;
    expect(chosen.databaseUrl).toBeUndefined();
    expect(parseConfig(productionSecrets).config.databaseUrl).toBe(productionSecrets.DATABASE_URL);
    // development and tests keep the embedded database without being asked
    expect(parseConfig({ NODE_ENV: "test" }).config.databaseUrl).toBeUndefined();
  });
  it.each([
    ["JWT_SECRET", "too-short"],
    ["JWT_SECRET", "a".repeat(40)],
    ["PII_KEYS", "k1:c2hvcnQ="],
    ["BLIND_INDEX_KEY", "c2hvcnQ="],
    ["PII_ACTIVE_KEY", "k2"],
    ["BCRYPT_ROUNDS", "8"],
    ["PORT", "70000"],
    ["DATABASE_URL", "mysql://x"],
    ["INTROSPECTION", "sometimes"],
    ["AUDIT_SIGNING_KEY", "not a key at all, but long enough to be echoed"],
    ["AUDIT_SIGNING_KEY", pkcs8("x25519")],
    ["AUDIT_SIGNING_KEY", signingKey.replace("MC4C", "MD4C")],
    ["AUDIT_CHECKPOINT_SECONDS", "0"],
  ])("refuses a weak or malformed %s with one line naming it", (name, value) => {
    const message = errorOf({ ...productionSecrets, [name]: value });
    expect(message).toContain(name);
    expect(message).not.toContain("\n");
    expect(message).not.toContain(value.length > 8 ? value : "\u0000"); // never echoes a secret
  });

  it("reads AUDIT_SIGNING_KEY as PEM, or with its newlines written as \\n (one-line env files)", () => {
    const multiLine = parseConfig(productionSecrets).config.audit.signingKey;
    const oneLine = parseConfig({
      ...productionSecrets,
      AUDIT_SIGNING_KEY: signingKey.trim().replaceAll("\n", "\\n"),
    }).config.audit.signingKey;
    expect(oneLine.equals(multiLine)).toBe(true);
    expect(multiLine.asymmetricKeyType).toBe("ed25519");
  });

  it("development keeps a generated signing key with its other secrets, added to an older file", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "config-signing-"));
    try {
      const file = join(dataDir, "secrets.json");
      const first = parseConfig({ NODE_ENV: "development", DATA_DIR: dataDir }).config;
      const kept = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
      expect(kept.auditSigningKey).toContain("BEGIN PRIVATE KEY");
      // a secrets.json of the previous release: everything but the signing key
      const { auditSigningKey: _dropped, ...older } = kept;
      writeFileSync(file, JSON.stringify(older), { mode: 0o600 });
      const upgraded = parseConfig({ NODE_ENV: "development", DATA_DIR: dataDir }).config;
      expect(upgraded.jwt.secret).toBe(first.jwt.secret);
      expect(upgraded.audit.signingKey.asymmetricKeyType).toBe("ed25519");
      const again = parseConfig({ NODE_ENV: "development", DATA_DIR: dataDir }).config;
      expect(again.audit.signingKey.equals(upgraded.audit.signingKey)).toBe(true);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it.each([
    ["TLS_CERT_FILE", { TLS_CERT_FILE: "/etc/tls/tls.crt" }],
    ["TLS_KEY_FILE", { TLS_KEY_FILE: "/etc/tls/tls.key" }],
  ])("refuses %s without the other TLS file, naming both", (only, env) => {
    expect(errorOf({ ...productionSecrets, ...env })).toBe(
      `Invalid configuration: TLS_CERT_FILE and TLS_KEY_FILE must be set together (only ${only} is set)`,
    );
  });

  it("warns once in production without TLS files that TLS must be terminated in front", () => {
    const tlsWarnings = (env: Record<string, string>) =>
      parseConfig(env).warnings.filter((w) => w.includes("TLS"));
    expect(tlsWarnings(productionSecrets)).toEqual([
      'TLS_CERT_FILE and TLS_KEY_FILE are not set: this server speaks plain HTTP, so TLS must be terminated in front of it (docs/operations.md "TLS")',
    ]);
    const direct = { TLS_CERT_FILE: "tls.crt", TLS_KEY_FILE: "tls.key" };
    expect(tlsWarnings({ ...productionSecrets, ...direct })).toEqual([]);
    expect(tlsWarnings({ NODE_ENV: "test" })).toEqual([]);
    expect(parseConfig({ ...productionSecrets, ...direct }).config.tls).toMatchObject({
      reloadIntervalMs: 1000,
    });
    expect(parseConfig(productionSecrets).config.tls).toBeUndefined();
  });
});
