import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PASSWORD, uniqueEmail } from "../../support/fixtures.js";

/*
 * The real process (src/main.ts) on an embedded database in a temporary directory: SIGTERM while
 * a request is in flight lets that request finish, then the process exits 0.
 */

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });

let child: ChildProcess | undefined;
let dataDir: string | undefined;

afterAll(() => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe("graceful shutdown", () => {
  // Starting the real process on a fresh on-disk PGlite takes a while on a loaded machine.
  it("finishes the in-flight request on SIGTERM and exits 0", { timeout: 180_000 }, async () => {
    dataDir = mkdtempSync(join(tmpdir(), "edge-shutdown-"));
    const port = await freePort();
    const proc = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: process.cwd(),
      env: {
        PATH: process.env.PATH,
        NODE_ENV: "test",
        PORT: String(port),
        HOST: "127.0.0.1",
        DATA_DIR: dataDir,
        LOG_LEVEL: "info",
        // A slow-ish request: signUp hashes the password at this cost (about a second).
        BCRYPT_ROUNDS: "14",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    const lines: Record<string, any>[] = [];
    const stderr: string[] = [];
    proc.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr.push(chunk));
    const waiters: { test: (l: Record<string, any>) => boolean; resolve: () => void }[] = [];
    proc.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      for (const text of chunk.split("\n").filter(Boolean)) {
        let line: Record<string, any>;
        try {
          line = JSON.parse(text) as Record<string, any>;
        } catch {
          continue;
        }
        lines.push(line);
        for (const waiter of waiters.filter((w) => w.test(line))) waiter.resolve();
      }
    });
    const logged = (test: (l: Record<string, any>) => boolean) =>
      lines.some(test)
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ test, resolve }));
    const exited = new Promise<number | null>((resolve) => proc.on("exit", resolve));

    const started = logged((l) => typeof l.msg === "string" && l.msg.startsWith("GraphQL API at"));
    const early = exited.then((code) => {
      throw new Error(`the server exited (${code}) before listening: ${stderr.join("")}`);
    });
    await Promise.race([started, early]);
    early.catch(() => undefined); // it exits later, by design

    const inFlight = fetch(`http://127.0.0.1:${port}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`,
        variables: {
          input: {
            organizationName: "Shutdown Co",
            displayName: "Admin",
            email: uniqueEmail("shutdown"),
            password: PASSWORD,
          },
        },
      }),
    });
    await logged((l) => l.msg === "incoming request" && l.req?.path === "/graphql");
    proc.kill("SIGTERM");

    const res = await inFlight;
    expect(res.status).toBe(200);
    const body: any = await res.json();
    expect(body.errors).toBeUndefined();
    expect(body.data.signUp.accessToken).toEqual(expect.any(String));
    const code = await exited;
    expect(code, JSON.stringify(lines.slice(-4)) + stderr.join("")).toBe(0);
    expect(lines.some((l) => l.msg === "shutting down: finishing in-flight requests")).toBe(true);
    // The request completed before the process ended.
    const completedAt = lines.findIndex((l) => l.msg === "request completed");
    const shutdownAt = lines.findIndex((l) => l.signal === "SIGTERM");
    expect(completedAt).toBeGreaterThan(shutdownAt);
  });
});
