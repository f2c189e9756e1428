import { PGlite } from "@electric-sql/pglite";
import { createPrivateKey, randomBytes } from "node:crypto";
import { inject } from "vitest";
import { buildApp, type App, type AppDeps } from "../../src/app.js";
import { parseConfig } from "../../src/config.js";
import { TrustedKeys } from "../../src/security/audit/signing.js";

/*
 * Tests talk HTTP to a real server on a random port, backed by PostgreSQL when DATABASE_URL is
 * set (CI) and by an in-memory PGlite otherwise. PGlite takes seconds to start, so each test
 * worker shares one; every test creates its own organizations, which tenancy keeps apart.
 */

export interface TestServer {
  app: App;
  url: string;
  close(): Promise<void>;
}

let sharedPglite: Promise<PGlite> | undefined;
let sharedServer: Promise<TestServer> | undefined;

/** The worker's shared in-memory PGlite (the database of every server started without DATABASE_URL). */
export function pglite(): Promise<PGlite> {
  sharedPglite ??= PGlite.create();
  return sharedPglite;
}

export const usingPostgres = (): boolean => Boolean(process.env.DATABASE_URL);

/**
 * A new server with these environment settings on top of the test defaults. `deps` may give it
 * its own PGlite (a fresh database) or logger.
 */
export async function startServer(
  env: Record<string, string | undefined> = {},
  deps: AppDeps = {},
): Promise<TestServer> {
  const { config } = parseConfig({
    NODE_ENV: "test",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    BCRYPT_ROUNDS: "4",
    // Every test calls from 127.0.0.1 and creates organizations quickly: the cost budgets are
    // exercised by test/http/budget*.test.ts with settings of their own, not drained by fixtures.
    BUDGET_POINTS: "1000000",
    BUDGET_RESTORE_PER_SECOND: "1000000",
    ANONYMOUS_BUDGET_POINTS: "1000000",
    ANONYMOUS_BUDGET_RESTORE_PER_SECOND: "1000000",
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_URL: undefined,
    // Every test connects from 127.0.0.1: the per-address authentication limit is tested on its
    // own servers (test/http/identity-brute-force.test.ts), not on the shared one.
    AUTH_ATTEMPTS_PER_MINUTE: "100000",
    // Refusals are answered at once here; the hold is tested on its own (test/http/isolation).
    RATE_LIMIT_HOLD_MS: "0",
    AUDIT_SIGNING_KEY: testSigningKeyPem(),
    ...env,
  });
  const usesPglite = !config.databaseUrl;
  const app = await buildApp(config, {
    ...(usesPglite ? { pglite: deps.pglite ?? (await pglite()) } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  await app.server.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { app, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/** The worker's shared server with default test settings (never closed by a test). */
export function sharedTestServer(): Promise<TestServer> {
  sharedServer ??= startServer();
  return sharedServer;
}

/**
 * A server of its own with the shared server's secrets: it accepts the shared server's tokens
 * and reads the personal data written there, so organizations can be made on the shared server
 * (roomy budgets, quick hashing) and used against settings of a test's own.
 */
export async function startSiblingServer(
  env: Record<string, string | undefined> = {},
  deps: AppDeps = {},
): Promise<TestServer> {
  return startServer({ ...secretsOf(await sharedTestServer()), ...env }, deps);
}

/** The settings that make another server accept this one's tokens and read its personal data. */
export function secretsOf(server: TestServer): Record<string, string> {
  const { jwt, pii } = server.app.services.config;
  return {
    JWT_SECRET: jwt.secret,
    PII_KEYS: [...pii.keys].map(([id, key]) => `${id}:${key.toString("base64")}`).join(","),
    PII_ACTIVE_KEY: pii.activeKeyId,
    BLIND_INDEX_KEY: pii.blindIndexKey.toString("base64"),
  };
}

/** The audit signing key of every test server (test/global-setup.ts). */
export const testSigningKeyPem = (): string => inject("auditSigningKey");

/** The public key of the test servers' checkpoints, as an auditor would trust it. */
export const testTrustedKeys = (): TrustedKeys =>
  new TrustedKeys([createPrivateKey(testSigningKeyPem())]);

/** The settings production insists on: real secrets (fresh ones here) and bcrypt cost >= 10. */
export function productionEnv(extra: Record<string, string> = {}): Record<string, string> {
  const key = () => randomBytes(32).toString("base64");
  return {
    NODE_ENV: "production",
    JWT_SECRET: randomBytes(48).toString("base64url"),
    PII_KEYS: `k1:${key()}`,
    PII_ACTIVE_KEY: "k1",
    BLIND_INDEX_KEY: key(),
    BCRYPT_ROUNDS: "10",
    AUDIT_SIGNING_KEY: testSigningKeyPem(),
    // The tests' embedded database is meant (PostgreSQL when DATABASE_URL is set, PGlite otherwise).
    ALLOW_EMBEDDED_DATABASE: "true",
    ...extra,
  };
}
