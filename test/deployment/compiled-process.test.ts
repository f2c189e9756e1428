import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectPath } from "../../src/paths.js";
import { freshDatabase, type FreshDatabase } from "../support/fresh-database.js";
import { type ServerProcess, spawnServer } from "../support/server-process.js";
import { testSigningKeyPem, usingPostgres } from "../support/server.js";

/*
 * What an operator runs is compiled code: `npm start` and the operator commands run dist/, built
 * once (at install, or here when the sources are newer), and a signal to the process the user
 * started stops the server itself.
 */

const run = promisify(execFile);
const buildIfStale = () =>
  run(process.execPath, [projectPath("scripts/build-if-stale.mjs")], {
    cwd: projectPath("."),
    timeout: 300_000,
  });

let scratch: string;
let fresh: FreshDatabase | undefined;
let server: ServerProcess | undefined;
/** The server under `npm start`: killed after the tests if a failed signal left it orphaned. */
let serverPid: number | undefined;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  await buildIfStale(); // the one compile of this file (nothing to do after `npm ci`)
  scratch = mkdtempSync(join(tmpdir(), "compiled-"));
  fresh = usingPostgres() ? await freshDatabase() : undefined;
}, 300_000);

afterAll(async () => {
  await server?.stop();
  if (serverPid !== undefined && alive(serverPid)) process.kill(serverPid, "SIGKILL");
  await fresh?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

describe("npm start", () => {
  it("does not compile when dist/ is up to date", { timeout: 120_000 }, async () => {
    const { stderr } = await buildIfStale();
    expect(stderr).toBe("");
  });

  it.each(["SIGTERM", "SIGINT"] as const)(
    "stops the server when %s reaches the npm process, which logs a last stopped line",
    { timeout: 240_000 },
    async (signal) => {
      // On PostgreSQL runs the server uses the scratch database: no on-disk PGlite to start.
      server = await spawnServer(fresh?.env ?? {}, { command: ["npm", "start", "--silent"] });
      const { child, lines, exited, stderr } = server;
      serverPid = lines.find((l) => typeof l.pid === "number")!.pid as number;
      expect(serverPid).not.toBe(child.pid); // npm is the parent: the signal must cross it
      const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      expect(health.status).toBe(200);

      child.kill(signal);
      const code = await exited;
      expect(code, stderr.join("")).toBe(0);
      expect(lines.at(-1), JSON.stringify(lines.slice(-4))).toMatchObject({
        msg: "stopped",
        signal,
        pid: serverPid,
      });
      expect(alive(serverPid)).toBe(false);
      await server.stop();
      server = undefined;
    },
  );
});

describe("operator commands", () => {
  const scripts = (
    JSON.parse(readFileSync(projectPath("package.json"), "utf8")) as {
      scripts: Record<string, string>;
    }
  ).scripts;
  const operatorCommands = [
    "db:migrate",
    "pii:rotate",
    "pii:rotate-blind-index",
    "audit:verify",
    "audit:export",
    "audit:public-key",
    "access:review",
    "security:probe",
  ];

  it.each(operatorCommands)("npm run %s runs compiled code that the build emits", (name) => {
    const match = /^node (dist\/src\/\S+\.js)$/.exec(scripts[name] ?? "");
    expect(match, scripts[name]).not.toBeNull();
    expect(() => readFileSync(projectPath(match![1]!))).not.toThrow();
  });

  it("migrate and audit:verify run from dist/ against a scratch database", async () => {
    const env = {
      PATH: process.env.PATH,
      ENV_FILE: "",
      NODE_ENV: "test",
      AUDIT_SIGNING_KEY: testSigningKeyPem(),
      ...(fresh ? fresh.env : { DATA_DIR: scratch }),
    };
    const driver = fresh ? "postgres" : "pglite";
    const migrate = await run(process.execPath, ["dist/src/db/cli/migrate.js"], {
      cwd: projectPath("."),
      env,
    });
    expect(migrate.stdout).toContain(`migrations applied (${driver})`);

    const verify = await run(process.execPath, ["dist/src/security/audit/cli/verify.js"], {
      cwd: projectPath("."),
      env,
    });
    expect(JSON.parse(verify.stdout.trim().split("\n").at(-1)!)).toMatchObject({ intact: true });

    // and a refusal is a clear exit code, not a stack trace
    const refused = await run(
      process.execPath,
      ["dist/src/security/audit/cli/verify.js", "--file", "/nonexistent"],
      { cwd: projectPath("."), env },
    ).catch((error: { code: number; stderr: string }) => error);
    expect(refused).toMatchObject({ code: 2 });
  }, 120_000);
});

describe("the env file", () => {
  const loadIn = async (cwd: string, env: Record<string, string>) => {
    const script = `const { loadEnvironment } = await import(${JSON.stringify(projectPath("dist/src/env-file.js"))});
      const e = loadEnvironment();
      console.log(JSON.stringify({ LOG_LEVEL: e.LOG_LEVEL, PORT: e.PORT, SECRET: e.X_SECRET }));`;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
      cwd,
      env: { PATH: process.env.PATH, ...env },
    });
    return JSON.parse(stdout) as Record<string, string | undefined>;
  };

  it("adds .env's settings, and a variable of the real environment wins over it", async () => {
    const dir = mkdtempSync(join(scratch, "env-"));
    writeFileSync(
      join(dir, ".env"),
      '# a comment\nLOG_LEVEL=debug\nPORT=4100\nX_SECRET="from the file"\n',
    );
    expect(await loadIn(dir, {})).toEqual({
      LOG_LEVEL: "debug",
      PORT: "4100",
      SECRET: "from the file",
    });
    expect(await loadIn(dir, { PORT: "5000" })).toMatchObject({ PORT: "5000", LOG_LEVEL: "debug" });
    // never under NODE_ENV=test, nor with ENV_FILE= (empty)
    expect(await loadIn(dir, { NODE_ENV: "test" })).toEqual({});
    expect(await loadIn(dir, { ENV_FILE: "" })).toEqual({});
    // ENV_FILE names another file; a missing one is refused, not ignored
    writeFileSync(join(dir, "other.env"), "PORT=4200\n");
    expect(await loadIn(dir, { ENV_FILE: "other.env" })).toEqual({ PORT: "4200" });
    await expect(loadIn(dir, { ENV_FILE: "missing.env" })).rejects.toMatchObject({
      stderr: expect.stringContaining("ENV_FILE names missing.env, which does not exist"),
    });
  });
});
