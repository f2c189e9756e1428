import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEnv } from "node:util";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseConfig, SETTING_NAMES } from "../../src/config.js";
import { projectPath } from "../../src/paths.js";

/*
 * The files an operator deploys from (Dockerfile, compose.yaml, .env.example, the docs' commands)
 * say what the code does: no setting the server does not read, no command that is not built.
 */

const read = (path: string) => readFileSync(projectPath(path), "utf8");
const packageJson = JSON.parse(read("package.json")) as { engines: { node: string } };
const dockerfile = read("Dockerfile");
/** The settings that hold secrets (key ids and prefixes are not). */
const SECRET = /SECRET|_KEYS?$|_KEY_NEXT$|_TOKEN$/;

describe("Dockerfile", () => {
  const stages = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);

  it("builds on node:24-slim pinned by digest, a line that engines allows", () => {
    expect(stages).toHaveLength(2);
    for (const image of stages) expect(image).toMatch(/^node:24-slim@sha256:[0-9a-f]{64}$/);
    expect(new Set(stages).size).toBe(1);
    const minimum = Number(/^>=(\d+)$/.exec(packageJson.engines.node)?.[1]);
    expect(minimum).toBe(22);
    expect(24).toBeGreaterThanOrEqual(minimum);
  });

  it("declares the data directory a volume and runs the compiled server", () => {
    const dataDir = /^ENV .*\bDATA_DIR=(\S+)/m.exec(dockerfile)?.[1];
    expect(dataDir).toBe("/app/data");
    expect(dockerfile).toMatch(/^VOLUME \/app\/data$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/src\/main\.js"\]$/m);
    expect(read(".dockerignore").split("\n")).toEqual(expect.arrayContaining([".env", ".env.*"]));
  });
});

describe("compose.yaml", () => {
  const compose = parseYaml(read("compose.yaml")) as {
    services: Record<string, any>;
    volumes: Record<string, unknown>;
  };

  it("runs PostgreSQL, Redis and the API built here, each with a health check", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["api", "postgres", "redis"]);
    for (const service of Object.values(compose.services)) {
      expect(service.healthcheck.test).toEqual(expect.any(Array));
    }
    const api = compose.services.api;
    expect(api.build).toBe(".");
    expect(api.depends_on).toEqual({
      postgres: { condition: "service_healthy" },
      redis: { condition: "service_healthy" },
    });
    expect(api.volumes).toEqual(["api-data:/app/data"]);
    expect(compose.services.postgres.volumes).toEqual(["postgres-data:/var/lib/postgresql/data"]);
    expect(Object.keys(compose.volumes).sort()).toEqual(["api-data", "postgres-data"]);
  });

  it("gives the API settings the server knows, production-like, and no secret but from .env", () => {
    const api = compose.services.api;
    const names = Object.keys(api.environment);
    expect(names.filter((name) => !SETTING_NAMES.includes(name))).toEqual([]);
    expect(api.environment.NODE_ENV).toBe("production");
    expect(names.filter((name) => SECRET.test(name))).toEqual([]);
    expect(api.env_file).toEqual([{ path: ".env", required: false }]);
    // the settings it gives are valid ones (the secrets added as .env would)
    const settings = Object.fromEntries(
      Object.entries(api.environment as Record<string, string>).map(([k, v]) => [k, String(v)]),
    );
    expect(() => parseConfig({ ...settings, ...productionSecrets() })).not.toThrow();
  });
});

describe(".env.example", () => {
  const example = read(".env.example");
  /** Every `NAME=value` line, commented out (a default) or not. */
  const entries = [...example.matchAll(/^(?:# )?([A-Z][A-Z0-9_]*)=(.*)$/gm)].map(
    (m) => [m[1]!, m[2]!] as const,
  );
  const active = parseEnv(example);

  it("lists every setting the server reads, once, and nothing else", () => {
    const names = entries.map(([name]) => name);
    expect([...names].sort()).toEqual([...SETTING_NAMES].sort());
    expect(Object.keys(active).every((name) => SETTING_NAMES.includes(name))).toBe(true);
  });

  it("keeps every secret empty and commented out", () => {
    expect(entries.filter(([name]) => SECRET.test(name)).length).toBe(8);
    for (const [name, value] of entries) {
      if (SECRET.test(name)) {
        expect(value, name).toBe("");
        expect(active[name], name).toBeUndefined();
      }
    }
  });

  it("as a .env, gives a working development server; its commented values are the defaults", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "env-example-"));
    try {
      const copied = parseConfig({ ...active, DATA_DIR: dataDir }).config;
      expect(copied).toMatchObject({ nodeEnv: "development", host: "127.0.0.1", port: 4000 });

      const defaults = Object.fromEntries(entries.filter(([, value]) => value !== ""));
      const comparable = (env: Record<string, string>) => {
        const {
          jwt,
          pii: _pii,
          audit,
          ...rest
        } = parseConfig({ ...env, DATA_DIR: dataDir }).config;
        return { ...rest, jwt: { ...jwt, secret: "" }, audit: { ...audit, signingKey: null } };
      };
      expect(comparable({ ...defaults, HOST: "0.0.0.0" })).toEqual(
        comparable({ NODE_ENV: "development" }),
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("operator commands in the docs", () => {
  const documents = [
    "README.md",
    "compose.yaml",
    "Dockerfile",
    ...readdirSync(projectPath("docs"))
      .filter((name) => name.endsWith(".md"))
      .map((name) => `docs/${name}`),
  ];

  it("name compiled files that the build emits from src/", () => {
    const commands = documents.flatMap((file) =>
      [...read(file).matchAll(/\bnode (dist\/src\/[\w/.-]+)\.js\b/g)].map((m) => ({
        file,
        source: `src/${m[1]!.slice("dist/src/".length)}.ts`,
      })),
    );
    expect(commands.length).toBeGreaterThan(5);
    expect(commands.filter(({ source }) => !existsSync(projectPath(source)))).toEqual([]);
  });

  it("show the docker run form for production, never tsx or npm run", () => {
    const operations = read("docs/operations.md");
    const dockerRuns = operations.split("\n").filter((line) => /docker run /.test(line));
    expect(dockerRuns.length).toBeGreaterThan(3);
    for (const line of dockerRuns) expect(line).not.toMatch(/\btsx\b|npm run|src\/[\w/-]+\.ts/);
  });
});

function productionSecrets(): Record<string, string> {
  const key = Buffer.alloc(32, 3).toString("base64");
  return {
    JWT_SECRET: "compose-check-secret-with-enough-entropy-0123456789",
    PII_KEYS: `k1:${key}`,
    PII_ACTIVE_KEY: "k1",
    BLIND_INDEX_KEY: key,
    AUDIT_SIGNING_KEY: generateKeyPairSync("ed25519")
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString(),
  };
}
