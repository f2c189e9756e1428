import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { projectPath } from "../../src/paths.js";

/*
 * `npm run bench` end to end with a tiny data set and one-second rounds: the figures mean
 * nothing at this size (the real run is README "Performance"), but every part of the bench runs
 * (compile, seed processes, both servers, every operation, the table), so it cannot rot unseen.
 */

const run = promisify(execFile);

function bench(env: Record<string, string>) {
  return run(process.execPath, ["--import", "tsx", projectPath("bench/run.ts")], {
    cwd: projectPath(),
    env: { ...process.env, ...env },
    timeout: 240_000,
    maxBuffer: 16 * 2 ** 20,
  });
}

describe("npm run bench (smoke)", () => {
  it("runs every operation on both servers and prints the table with ratios", async () => {
    const { stdout } = await bench({
      BENCH_CUSTOMERS: "200",
      BENCH_SECONDS: "1",
      BENCH_ROUNDS: "1",
      BENCH_WARMUP_SECONDS: "0",
      BENCH_CONNECTIONS: "2",
    });
    const rows = stdout.split("\n").filter((line) => /^[1-5] /.test(line));
    expect(rows.map((row) => row.slice(0, 2))).toEqual(["1 ", "2 ", "3 ", "4 ", "5 "]);
    for (const row of rows) {
      // req/s full, req/s base, full/base, …, errors f/b, SQL/op f/b, peak RSS f/b
      expect(row).toMatch(/\s\d+\.\d\d×\s/);
      const [, errorsFull, errorsBase] = /\s(\d+) \/ (\d+)\s+\d+\.\d\d \/ \d+\.\d\d/.exec(row)!;
      expect([errorsFull, errorsBase]).toEqual(["0", "0"]);
      const [, sqlFull] = /\s(\d+\.\d\d) \/ \d+\.\d\d\s/.exec(row)!;
      expect(Number(sqlFull)).toBeGreaterThan(0);
      expect(Number(sqlFull)).toBeLessThanOrEqual(6);
    }
    expect(stdout).toMatch(/≤ 6 SQL statements per operation: met/);
    expect(stdout).toMatch(/zero errors: met/);
  }, 300_000);

  it("refuses a knob that is not a whole number, before starting anything", async () => {
    const failed = await bench({ BENCH_SECONDS: "five" }).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain(
      'BENCH_SECONDS must be a whole number of at least 1 (got "five")',
    );
  });
});
