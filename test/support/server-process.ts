import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyEmptyEmbeddedDatabase } from "./fresh-database.js";
import { testSigningKeyPem, usingPostgres } from "./server.js";

/*
 * The real process (dist/src/main.js, which test/global-setup.ts keeps current, or `npm start`),
 * for the claims that are about the process: its PID, its log lines, its listener.
 */

export type LogLine = Record<string, any>;

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  /** Every JSON log line so far. */
  lines: LogLine[];
  /** Resolves at the first line (past or future) that passes `test`. */
  logged: (test: (line: LogLine) => boolean) => Promise<LogLine>;
  /** The exit code, once the process has exited. */
  exited: Promise<number | null>;
  /** What the process wrote to stderr so far. */
  stderr: string[];
  stop: () => Promise<void>;
}

export const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });

export interface SpawnOptions {
  /** What to run from the project root; the compiled server by default (as `npm start` runs it). */
  command?: [string, ...string[]];
}

/**
 * The process, started: it may still be starting (or failing to). Without a DATABASE_URL of
 * `env`'s it runs on the tests' PostgreSQL (with the tests' audit signing key, so its
 * checkpoints verify like every other test server's), or on a new embedded database.
 */
export async function launchServer(
  env: Record<string, string>,
  { command = [process.execPath, "dist/src/main.js"] }: SpawnOptions = {},
): Promise<ServerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), "server-process-"));
  const database: Record<string, string> = {};
  if (env.DATABASE_URL === undefined && usingPostgres()) {
    Object.assign(database, {
      DATABASE_URL: process.env.DATABASE_URL!,
      AUDIT_SIGNING_KEY: testSigningKeyPem(),
    });
  } else if (env.DATABASE_URL === undefined) {
    await copyEmptyEmbeddedDatabase(dataDir);
  }
  const port = await freePort();
  const [file, ...args] = command;
  const child = spawn(file, args, {
    cwd: process.cwd(),
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME, // npm keeps its cache and logs there
      ENV_FILE: "", // a developer's .env never reaches a test server
      NODE_ENV: "test",
      PORT: String(port),
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      LOG_LEVEL: "info",
      ...database,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: LogLine[] = [];
  const stderr: string[] = [];
  const waiters: { test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let partial = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr.push(chunk));
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    const texts = (partial + chunk).split("\n");
    partial = texts.pop()!;
    for (const text of texts.filter(Boolean)) {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        continue;
      }
      lines.push(line);
      for (const waiter of waiters.filter((w) => w.test(line))) waiter.resolve(line);
    }
  });
  const logged = (test: (l: LogLine) => boolean) => {
    const seen = lines.find(test);
    return seen
      ? Promise.resolve(seen)
      : new Promise<LogLine>((resolve) => waiters.push({ test, resolve }));
  };
  // "close", not "exit": the exit can be reported before the last lines are read from the pipe
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const stop = async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  };

  return { child, port, lines, logged, exited, stderr, stop };
}

/** The process, once it listens (rejects with its stderr if it exits first). */
export async function spawnServer(
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<ServerProcess> {
  const server = await launchServer(env, options);
  const { logged, exited, stderr } = server;
  const started = logged((l) => typeof l.msg === "string" && l.msg.startsWith("GraphQL API at"));
  const early = exited.then((code) => {
    throw new Error(`the server exited (${code}) before listening: ${stderr.join("")}`);
  });
  try {
    await Promise.race([started, early]);
  } catch (error) {
    await server.stop();
    throw error;
  }
  early.catch(() => undefined); // it exits later, when stopped
  return server;
}
