import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../src/config.js";

const key = () => Buffer.alloc(32, 9).toString("base64");
const production = {
  NODE_ENV: "production",
  JWT_SECRET: "Pr0duction-secret-with-enough-entropy-for-HS256!",
  PII_KEYS: `k1:${key()}`,
  PII_ACTIVE_KEY: "k1",
  BLIND_INDEX_KEY: key(),
  AUDIT_SIGNING_KEY: generateKeyPairSync("ed25519")
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString(),
  DATABASE_URL: "postgres://api@db.internal:5432/records",
};

const refusal = (env: Record<string, string>): string => {
  try {
    parseConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected the configuration to be refused");
};

describe("identity settings", () => {
  it("default to BEHAVIOUR.md: 15-minute access, 1-hour client, 30-day refresh tokens; 20 attempts a minute; 5 failures lock for 15 minutes", () => {
    const { config } = parseConfig(production);
    expect(config.jwt).toMatchObject({
      accessTokenSeconds: 900,
      clientTokenSeconds: 3600,
      refreshTokenSeconds: 30 * 24 * 3600,
      previousSecrets: [],
    });
    expect(config.bcryptRounds).toBe(12);
    expect(config.authLimits).toEqual({
      attemptsPerMinutePerIp: 20,
      lockoutFailures: 5,
      lockoutSeconds: 900,
    });
  });

  it("production needs a JWT_SECRET of at least 32 bytes", () => {
    expect(refusal({ ...production, JWT_SECRET: "Abcdefgh12345678Abcdefgh1234567" })).toMatch(
      /JWT_SECRET: must be at least 32 bytes/,
    );
    expect(
      parseConfig({ ...production, JWT_SECRET: "Abcdefgh12345678Abcdefgh12345678" }).config.jwt
        .secret,
    ).toHaveLength(32);
  });

  it("refuses weak previous secrets too, without echoing them", () => {
    const weak = "0123456789";
    const message = refusal({
      ...production,
      JWT_PREVIOUS_SECRETS: `${production.JWT_SECRET}x,${weak}`,
    });
    expect(message).toContain("JWT_PREVIOUS_SECRETS");
    expect(message).not.toContain(production.JWT_SECRET);
    const ok = parseConfig({
      ...production,
      JWT_PREVIOUS_SECRETS: ` ${production.JWT_SECRET}x , `,
    });
    expect(ok.config.jwt.previousSecrets).toEqual([`${production.JWT_SECRET}x`]);
  });

  it("production refuses BCRYPT_ROUNDS below 10; tests may go lower for speed", () => {
    expect(refusal({ ...production, BCRYPT_ROUNDS: "9" })).toContain("BCRYPT_ROUNDS");
    expect(parseConfig({ ...production, BCRYPT_ROUNDS: "10" }).config.bcryptRounds).toBe(10);
    expect(parseConfig({ NODE_ENV: "test", BCRYPT_ROUNDS: "4" }).config.bcryptRounds).toBe(4);
  });

  it("refuses limits that would switch brute-force protection off", () => {
    for (const name of [
      "AUTH_ATTEMPTS_PER_MINUTE",
      "LOGIN_LOCKOUT_FAILURES",
      "LOGIN_LOCKOUT_SECONDS",
    ]) {
      expect(refusal({ ...production, [name]: "0" })).toContain(name);
    }
  });

  it("development generates a JWT secret once, kept private under DATA_DIR, and warns", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "identity-config-"));
    try {
      const first = parseConfig({ NODE_ENV: "development", DATA_DIR: dataDir });
      expect(first.warnings.join(" ")).toMatch(/JWT_SECRET.*generated/);
      expect(Buffer.byteLength(first.config.jwt.secret)).toBeGreaterThanOrEqual(32);
      expect(statSync(join(dataDir, "secrets.json")).mode & 0o777).toBe(0o600);
      const again = parseConfig({ NODE_ENV: "development", DATA_DIR: dataDir });
      expect(again.config.jwt.secret).toBe(first.config.jwt.secret);
      // A set JWT_SECRET wins over the generated one.
      const set = parseConfig({
        NODE_ENV: "development",
        DATA_DIR: dataDir,
        JWT_SECRET: production.JWT_SECRET,
      });
      expect(set.config.jwt.secret).toBe(production.JWT_SECRET);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
