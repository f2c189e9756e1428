import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { DEVELOPMENT_ORIGINS, parseOriginPattern } from "./http/origins.js";
import { parseProxyTrust } from "./http/proxy-trust.js";

/** Every setting of the server, parsed and validated once at start (see docs/configuration.md). */
export type Config = ReturnType<typeof parseConfig>["config"];
export type Environment = Config["nodeEnv"];

export class ConfigError extends Error {
  override name = "ConfigError";
}

const MIN_SECRET_BYTES = 32;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max);
const list = z.string().transform((s) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean),
);
const bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");

const base64Key = (name: string) =>
  z.string().transform((value, ctx) => {
    const key = Buffer.from(value, "base64");
    if (key.length !== 32) {
      ctx.addIssue({ code: "custom", message: `${name} must be 32 bytes, base64-encoded` });
      return z.NEVER;
    }
    return key;
  });

/** A PEM private key as `openssl genpkey -algorithm ed25519` writes it (newlines may be `\n`). */
const ed25519PrivateKey = (name: string) =>
  z.string().transform((value, ctx): KeyObject => {
    let key: KeyObject | undefined;
    try {
      key = createPrivateKey(value.includes("\\n") ? value.replaceAll("\\n", "\n") : value);
    } catch {
      key = undefined;
    }
    if (key?.asymmetricKeyType !== "ed25519") {
      ctx.addIssue({
        code: "custom",
        message: `${name} must be an Ed25519 private key (PKCS#8 PEM)`,
      });
      return z.NEVER;
    }
    return key;
  });

const strongSecret = z.string().superRefine((s, ctx) => {
  if (Buffer.byteLength(s, "utf8") < MIN_SECRET_BYTES) {
    ctx.addIssue({ code: "custom", message: `must be at least ${MIN_SECRET_BYTES} bytes` });
  } else if (new Set(s).size < 8) {
    ctx.addIssue({ code: "custom", message: "is too weak (too few distinct characters)" });
  }
});

const corsOrigin = z.string().superRefine((entry, ctx) => {
  const pattern = parseOriginPattern(entry);
  if (typeof pattern === "string") ctx.addIssue({ code: "custom", message: pattern });
});

const trustProxySetting = z.string().superRefine((value, ctx) => {
  const trust = parseProxyTrust(value);
  if (typeof trust === "string") ctx.addIssue({ code: "custom", message: trust });
});

const piiKeyRing = z.string().transform((value, ctx) => {
  const keys = new Map<string, Buffer>();
  for (const pair of value.split(",").map((p) => p.trim())) {
    const match = /^([A-Za-z0-9_-]{1,32}):(.+)$/.exec(pair);
    const key = match ? Buffer.from(match[2]!, "base64") : undefined;
    if (!match || key?.length !== 32) {
      ctx.addIssue({
        code: "custom",
        message: "must be comma-separated id:base64 pairs of 32-byte keys",
      });
      return z.NEVER;
    }
    if (keys.has(match[1]!)) {
      ctx.addIssue({ code: "custom", message: `names key id ${match[1]} twice` });
      return z.NEVER;
    }
    keys.set(match[1]!, key);
  }
  return keys;
});

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: int(0, 65535).default(4000),
  HOST: z.string().min(1).default("0.0.0.0"),
  // Below the orchestrator's grace period (Kubernetes: 30 s) so the server exits on its own terms.
  SHUTDOWN_TIMEOUT_SECONDS: int(2, 600).default(25),
  DATA_DIR: z.string().min(1).default("./data"),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  DATABASE_POOL_SIZE: int(1, 1000).default(10),
  // An idle pooled connection is closed after this long (0: kept open).
  DATABASE_IDLE_TIMEOUT_SECONDS: int(0, 86_400).default(60),
  // A connection attempt that takes longer fails (and the operation that needed it gets a 503).
  DATABASE_CONNECT_TIMEOUT_SECONDS: int(1, 300).default(5),
  // A start that cannot reach the database retries this long, then exits with the cause.
  DATABASE_START_TIMEOUT_SECONDS: int(0, 3_600).default(60),
  /** Production runs on the embedded database (in DATA_DIR) only when the operator opts in. */
  ALLOW_EMBEDDED_DATABASE: bool.default(false),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  /** Prepended to every Redis key, so that several deployments (or test servers) can share one. */
  REDIS_KEY_PREFIX: z.string().min(1).max(64).default("cra:"),
  JWT_SECRET: strongSecret.optional(),
  JWT_PREVIOUS_SECRETS: list.pipe(z.array(strongSecret)).default([]),
  JWT_ISSUER: z.string().min(1).default("customer-records-api"),
  JWT_AUDIENCE: z.string().min(1).default("customer-records-api"),
  PII_KEYS: piiKeyRing.optional(),
  PII_ACTIVE_KEY: z.string().min(1).optional(),
  BLIND_INDEX_KEY: base64Key("BLIND_INDEX_KEY").optional(),
  BLIND_INDEX_KEY_NEXT: base64Key("BLIND_INDEX_KEY_NEXT").optional(),
  BCRYPT_ROUNDS: int(4, 15).default(12),
  CORS_ORIGINS: list.pipe(z.array(corsOrigin)).optional(),
  INTROSPECTION: z.enum(["public", "authenticated", "off"]).optional(),
  TRUST_PROXY: trustProxySetting.optional(),
  // Direct TLS: both PEM files or neither (then TLS is terminated in front of the server).
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  TLS_RELOAD_INTERVAL_MS: int(100, 60_000).default(1_000),
  METRICS_TOKEN: strongSecret.optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  // auto: pretty in development on a terminal, JSON otherwise (src/logger.ts)
  LOG_FORMAT: z.enum(["auto", "json", "pretty"]).default("auto"),
  SEED_DEMO_DATA: bool.optional(),
  // Abuse limits (per operation).
  DEPTH_LIMIT: int(1).default(10),
  COST_LIMIT: int(1).default(1000),
  ALIAS_LIMIT: int(0).default(15),
  DIRECTIVE_LIMIT: int(0).default(50),
  TOKEN_LIMIT: int(1).default(2000),
  // Operations in one batched request; 1 is batching off (Apollo's default, OWASP's advice).
  BATCH_LIMIT: int(1, 10).default(1),
  BODY_LIMIT_BYTES: int(1024).default(100_000),
  // Isolation: no principal, organization or client can take the server from the others.
  CONCURRENT_OPERATIONS_PER_PRINCIPAL: int(1).default(4),
  CONCURRENT_OPERATIONS_PER_ORGANIZATION: int(1).default(4),
  CONCURRENCY_WAIT_MS: int(0, 60_000).default(1_000),
  // A refused (429) answer is held this long at most (never past its Retry-After).
  RATE_LIMIT_HOLD_MS: int(0, 10_000).default(1_000),
  // bcrypt work at once: half the cores, so hashing never takes every core from the rest.
  PASSWORD_HASH_CONCURRENCY: int(1, 64).default(
    Math.max(1, Math.floor(availableParallelism() / 2)),
  ),
  REQUEST_TIMEOUT_MS: int(1_000).default(30_000),
  KEEP_ALIVE_TIMEOUT_MS: int(100).default(5_000),
  MAX_CONNECTIONS: int(1).default(1_024),
  MAX_CONNECTIONS_PER_ADDRESS: int(1).default(128),
  EXECUTION_TIMEOUT_MS: int(1).default(10_000),
  STATEMENT_TIMEOUT_MS: int(1).default(5_000),
  // Cost budgets (leaky buckets).
  BUDGET_POINTS: int(1).default(2000),
  BUDGET_RESTORE_PER_SECOND: int(1).default(100),
  ANONYMOUS_BUDGET_POINTS: int(1).default(200),
  ANONYMOUS_BUDGET_RESTORE_PER_SECOND: int(1).default(10),
  // Authentication brute-force limits.
  AUTH_ATTEMPTS_PER_MINUTE: int(1).default(20),
  LOGIN_LOCKOUT_FAILURES: int(1).default(5),
  LOGIN_LOCKOUT_SECONDS: int(1).default(900),
  // Audit log.
  AUDIT_BUFFER_SIZE: int(10).default(10_000),
  AUDIT_FLUSH_MS: int(10, 60_000).default(100),
  // A response waits this long at most for its audit event to commit; then it is a 503.
  AUDIT_DURABLE_WAIT_MS: int(100, 60_000).default(2_000),
  AUDIT_CHECKPOINT_SECONDS: int(1, 86_400).default(60),
  AUDIT_SIGNING_KEY: ed25519PrivateKey("AUDIT_SIGNING_KEY").optional(),
  // Trusted documents: a first-party app's operations, sent by id (README "Trusted documents").
  TRUSTED_DOCUMENTS: z.string().min(1).optional(),
  TRUSTED_DOCUMENTS_MODE: z.enum(["off", "allow", "require"]).default("off"),
});

type Env = Record<string, string | undefined>;
type GeneratedSecrets = {
  jwtSecret: string;
  piiKeyId: string;
  piiKey: string;
  blindIndexKey: string;
  auditSigningKey: string;
};

const generateSigningKey = (): string =>
  generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();

function generateSecrets(): GeneratedSecrets {
  return {
    jwtSecret: randomBytes(48).toString("base64url"),
    piiKeyId: "dev1",
    piiKey: randomBytes(32).toString("base64"),
    blindIndexKey: randomBytes(32).toString("base64"),
    auditSigningKey: generateSigningKey(),
  };
}

/** Development secrets are generated once and kept (mode 0600) so tokens and ciphertexts survive restarts. */
function loadDevelopmentSecrets(dataDir: string): { secrets: GeneratedSecrets; created: boolean } {
  const file = join(resolve(dataDir), "secrets.json");
  const write = (secrets: GeneratedSecrets) => {
    writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
    chmodSync(file, 0o600);
  };
  if (existsSync(file)) {
    const kept = JSON.parse(readFileSync(file, "utf8")) as Partial<GeneratedSecrets>;
    // a file written before a secret existed gets it added, the others kept as they are
    const secrets = { ...generateSecrets(), ...kept };
    if (!kept.auditSigningKey) write(secrets);
    return { secrets, created: false };
  }
  mkdirSync(resolve(dataDir), { recursive: true, mode: 0o700 });
  const secrets = generateSecrets();
  write(secrets);
  return { secrets, created: true };
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.join(".") || "environment"}: ${issue.message}`)
    .join("; ");
}

/**
 * Parses the environment. Returns the config and the warnings to log once a logger exists.
 * Throws ConfigError with one line naming the variable when something is missing, weak or malformed.
 */
export function parseConfig(env: Env) {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success)
    throw new ConfigError(`Invalid configuration: ${describeIssues(parsed.error)}`);
  const e = parsed.data;
  const production = e.NODE_ENV === "production";
  const warnings: string[] = [];

  const missing = [
    !e.JWT_SECRET && "JWT_SECRET",
    !e.PII_KEYS && "PII_KEYS",
    !e.PII_ACTIVE_KEY && "PII_ACTIVE_KEY",
    !e.BLIND_INDEX_KEY && "BLIND_INDEX_KEY",
    !e.AUDIT_SIGNING_KEY && "AUDIT_SIGNING_KEY",
  ].filter((name): name is string => Boolean(name));
  if (production && missing.length > 0) {
    throw new ConfigError(`Invalid configuration: ${missing.join(", ")} must be set in production`);
  }
  if (production && !e.DATABASE_URL && !e.ALLOW_EMBEDDED_DATABASE) {
    // The embedded database lives in DATA_DIR: a replaced container without a volume loses the
    // data and the audit chain, so production needs PostgreSQL or an explicit choice.
    throw new ConfigError(
      "Invalid configuration: DATABASE_URL must be set in production; to run on the embedded database in DATA_DIR instead (on a persistent volume), set ALLOW_EMBEDDED_DATABASE=true",
    );
  }
  if (production && e.LOG_FORMAT === "pretty") {
    throw new ConfigError("Invalid configuration: LOG_FORMAT must not be pretty in production");
  }
  if (production && e.BCRYPT_ROUNDS < 10) {
    throw new ConfigError("Invalid configuration: BCRYPT_ROUNDS must be at least 10 in production");
  }

  if (Boolean(e.TLS_CERT_FILE) !== Boolean(e.TLS_KEY_FILE)) {
    throw new ConfigError(
      `Invalid configuration: TLS_CERT_FILE and TLS_KEY_FILE must be set together (only ${e.TLS_CERT_FILE ? "TLS_CERT_FILE" : "TLS_KEY_FILE"} is set)`,
    );
  }
  const tls =
    e.TLS_CERT_FILE && e.TLS_KEY_FILE
      ? {
          certFile: resolve(e.TLS_CERT_FILE),
          keyFile: resolve(e.TLS_KEY_FILE),
          reloadIntervalMs: e.TLS_RELOAD_INTERVAL_MS,
        }
      : undefined;
  if (production && !tls) {
    warnings.push(
      'TLS_CERT_FILE and TLS_KEY_FILE are not set: this server speaks plain HTTP, so TLS must be terminated in front of it (docs/operations.md "TLS")',
    );
  }

  let generated: GeneratedSecrets | undefined;
  if (missing.length > 0) {
    if (e.NODE_ENV === "development") {
      const { secrets, created } = loadDevelopmentSecrets(e.DATA_DIR);
      generated = secrets;
      warnings.push(
        `${missing.join(", ")} not set: using development secrets ${created ? "generated now and " : ""}kept in ${join(e.DATA_DIR, "secrets.json")}. Never use them in production.`,
      );
    } else {
      generated = generateSecrets(); // test: ephemeral, never written to disk
    }
  }

  const piiKeys =
    e.PII_KEYS ?? new Map([[generated!.piiKeyId, Buffer.from(generated!.piiKey, "base64")]]);
  const piiActiveKey = e.PII_ACTIVE_KEY ?? (e.PII_KEYS ? undefined : generated!.piiKeyId);
  if (!piiActiveKey || !piiKeys.has(piiActiveKey)) {
    throw new ConfigError(
      "Invalid configuration: PII_ACTIVE_KEY must name a key id present in PII_KEYS",
    );
  }

  const blindIndexKey = e.BLIND_INDEX_KEY ?? Buffer.from(generated!.blindIndexKey, "base64");
  if (e.BLIND_INDEX_KEY_NEXT?.equals(blindIndexKey)) {
    throw new ConfigError(
      "Invalid configuration: BLIND_INDEX_KEY_NEXT must differ from BLIND_INDEX_KEY",
    );
  }

  if (e.TRUSTED_DOCUMENTS_MODE !== "off" && !e.TRUSTED_DOCUMENTS) {
    throw new ConfigError(
      `Invalid configuration: TRUSTED_DOCUMENTS_MODE=${e.TRUSTED_DOCUMENTS_MODE} needs TRUSTED_DOCUMENTS (a manifest file or a directory of them)`,
    );
  }
  if (e.TRUSTED_DOCUMENTS_MODE === "off" && e.TRUSTED_DOCUMENTS) {
    warnings.push(
      "TRUSTED_DOCUMENTS is set but TRUSTED_DOCUMENTS_MODE is off: the manifests are not loaded and document ids are refused",
    );
  }

  const development = e.NODE_ENV === "development";
  const config = {
    nodeEnv: e.NODE_ENV,
    isProduction: production,
    isDevelopment: development,
    port: e.PORT,
    host: e.HOST,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_SECONDS * 1000,
    dataDir: resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    databaseConnection: {
      idleTimeoutSeconds: e.DATABASE_IDLE_TIMEOUT_SECONDS,
      connectTimeoutSeconds: e.DATABASE_CONNECT_TIMEOUT_SECONDS,
      startTimeoutSeconds: e.DATABASE_START_TIMEOUT_SECONDS,
    },
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    jwt: {
      secret: e.JWT_SECRET ?? generated!.jwtSecret,
      previousSecrets: e.JWT_PREVIOUS_SECRETS,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      accessTokenSeconds: 900,
      clientTokenSeconds: 3600,
      refreshTokenSeconds: 30 * 24 * 3600,
    },
    pii: {
      keys: piiKeys,
      activeKeyId: piiActiveKey,
      blindIndexKey,
      /** Set only while the blind-index key rotates (docs/personal-data.md). */
      blindIndexNextKey: e.BLIND_INDEX_KEY_NEXT,
    },
    bcryptRounds: e.BCRYPT_ROUNDS,
    passwordHashConcurrency: e.PASSWORD_HASH_CONCURRENCY,
    corsOrigins: e.CORS_ORIGINS ?? (development ? [...DEVELOPMENT_ORIGINS] : []),
    introspection: e.INTROSPECTION ?? (development ? "public" : "authenticated"),
    trustProxy: e.TRUST_PROXY,
    /** Direct TLS (docs/operations.md "TLS"); undefined when a proxy in front terminates it. */
    tls,
    /** Bearer token for GET /metrics; without it /metrics is open outside production, absent in it. */
    metricsToken: e.METRICS_TOKEN,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    seedDemoData: e.SEED_DEMO_DATA ?? development,
    limits: {
      depth: e.DEPTH_LIMIT,
      cost: e.COST_LIMIT,
      aliases: e.ALIAS_LIMIT,
      directives: e.DIRECTIVE_LIMIT,
      tokens: e.TOKEN_LIMIT,
      batch: e.BATCH_LIMIT,
      bodyBytes: e.BODY_LIMIT_BYTES,
      executionTimeoutMs: e.EXECUTION_TIMEOUT_MS,
      statementTimeoutMs: e.STATEMENT_TIMEOUT_MS,
    },
    fairShare: {
      perPrincipal: e.CONCURRENT_OPERATIONS_PER_PRINCIPAL,
      perOrganization: e.CONCURRENT_OPERATIONS_PER_ORGANIZATION,
      waitMs: e.CONCURRENCY_WAIT_MS,
      refusalHoldMs: e.RATE_LIMIT_HOLD_MS,
    },
    http: {
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: e.MAX_CONNECTIONS,
      maxConnectionsPerAddress: e.MAX_CONNECTIONS_PER_ADDRESS,
    },
    budgets: {
      principal: { points: e.BUDGET_POINTS, restorePerSecond: e.BUDGET_RESTORE_PER_SECOND },
      anonymous: {
        points: e.ANONYMOUS_BUDGET_POINTS,
        restorePerSecond: e.ANONYMOUS_BUDGET_RESTORE_PER_SECOND,
      },
    },
    authLimits: {
      attemptsPerMinutePerIp: e.AUTH_ATTEMPTS_PER_MINUTE,
      lockoutFailures: e.LOGIN_LOCKOUT_FAILURES,
      lockoutSeconds: e.LOGIN_LOCKOUT_SECONDS,
    },
    audit: {
      bufferSize: e.AUDIT_BUFFER_SIZE,
      flushMs: e.AUDIT_FLUSH_MS,
      durableWaitMs: e.AUDIT_DURABLE_WAIT_MS,
      // what is left after in-flight requests finished: retried this long, then logged (exit 1)
      shutdownFlushMs: e.SHUTDOWN_TIMEOUT_SECONDS * 400,
      checkpointSeconds: e.AUDIT_CHECKPOINT_SECONDS,
      signingKey: e.AUDIT_SIGNING_KEY ?? createPrivateKey(generated!.auditSigningKey),
    },
    /** README "Trusted documents": `path` is set whenever `mode` is not off. */
    trustedDocuments: {
      mode: e.TRUSTED_DOCUMENTS_MODE,
      path: e.TRUSTED_DOCUMENTS_MODE === "off" ? undefined : resolve(e.TRUSTED_DOCUMENTS!),
    },
  };
  if (production && config.seedDemoData) {
    throw new ConfigError(
      "Invalid configuration: SEED_DEMO_DATA must not be enabled in production",
    );
  }
  return { config, warnings };
}

/** The name of every environment variable the configuration reads (.env.example lists them all). */
export const SETTING_NAMES: readonly string[] = Object.keys(envSchema.shape);
