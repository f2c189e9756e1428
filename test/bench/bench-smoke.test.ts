import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { projectPath } from "../../src/paths.js";

/*
 * `npm run bench` end to end with a tiny data set and one-second rounds: the figures mean
 * nothing at this size (the real run is docs/performance.md), but every part of the bench runs
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
    // The table: a header, a rule, then one row per operation; cells are 2+ spaces apart.
    const lines = stdout.split("\n");
    const headerAt = lines.findIndex((line) => line.startsWith("operation "));
    const cellsOf = (line: string) => line.trim().split(/ {2,}/);
    const header = cellsOf(lines[headerAt]!);
    const rows = lines
      .slice(headerAt + 2, headerAt + 8)
      .map(cellsOf)
      .map((cells) => Object.fromEntries(header.map((name, i) => [name, cells[i]])));
    expect(rows.map((row) => row.operation?.slice(0, 2))).toEqual([
      "1 ",
      "2 ",
      "3 ",
      "4 ",
      "5 ",
      "6 ",
    ]);
    for (const row of rows) {
      expect(row["full/base"]).toMatch(/^\d+\.\d\d×$/);
      // one round: its ratio is the median, the minimum and the maximum
      const ratio = row["full/base"]!.slice(0, -1);
      expect(row["rounds min–max"]).toBe(`${ratio}–${ratio}×`);
      expect(row["errors f/b"]).toBe("0 / 0");
      const [sqlFull] = row["SQL/op f/b"]!.split(" / ").map(Number);
      expect(sqlFull).toBeGreaterThan(0);
      expect(sqlFull).toBeLessThanOrEqual(6);
      const [cpuFull, cpuBase] = row["CPU ms/op f/b"]!.split(" / ").map(Number);
      expect(cpuFull).toBeGreaterThan(0);
      expect(cpuBase).toBeGreaterThan(0);
    }
    const perRound = lines.slice(lines.indexOf("full/base per round, in order:") + 1).slice(0, 6);
    expect(perRound.map((line) => line.replace(/: .*/, ""))).toEqual(
      rows.map((row) => `  ${row.operation}`),
    );
    for (const [i, row] of rows.entries()) {
      expect(perRound[i]).toBe(`  ${row.operation}: ${row["full/base"]!.slice(0, -1)}`);
    }
    expect(stdout).toMatch(/≤ 6 SQL statements per operation: met/);
    expect(stdout).toMatch(/zero errors: met/);
    // The noisy-neighbour line: the victim alone and under flood, and the flood's answers.
    const victim = (phase: string) => cellsOf(lines.find((line) => line.startsWith(phase))!);
    for (const phase of ["alone", "under flood"]) {
      // phase, then reads: p50 p99 max requests errors, writes: the same, /readyz not 200
      const [, , , , requests, errors, , , , , writeErrors, unready] = victim(phase);
      expect(Number(requests)).toBeGreaterThan(0);
      expect([errors, writeErrors, unready].map(Number)).toEqual([0, 0, 0]);
    }
    expect(stdout).toMatch(/flood createUser \(ADMIN\): .*× 200/);
    expect(stdout).toMatch(/flood \{ __typename \} \(anonymous\): .*× 429/);
    expect(stdout).toMatch(/Victim read p99 under flood \/ alone: \d+\.\d\d×/);
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

  it("refuses a cipher mode it does not know, before starting anything", async () => {
    const failed = await bench({ BENCH_FULL_CIPHER: "plain" }).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain('BENCH_FULL_CIPHER must be "none" or unset (got "plain")');
  });
});
