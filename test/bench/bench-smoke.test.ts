import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { projectPath } from "../../src/paths.js";

/*
 * `npm run bench` end to end with a tiny data set and rounds of 0.4 s: the figures mean
 * nothing at this size (the real run is docs/performance.md), but every part of the bench runs
 * (compile, seed processes, the three servers, every operation, the table), so it cannot rot
 * unseen. Before measuring an operation the bench checks that every server answers it with the
 * full server's shape (fields, types, list lengths) and stops otherwise.
 */

const run = promisify(execFile);

function bench(env: Record<string, string>) {
  return run(process.execPath, ["--import", "tsx", projectPath("bench/run.ts")], {
    cwd: projectPath(),
    env: { ...process.env, ...env },
    timeout: 480_000,
    maxBuffer: 16 * 2 ** 20,
  });
}

describe("npm run bench (smoke)", () => {
  it("runs every operation on the three servers and prints the table with both ratios", async () => {
    const { stdout } = await bench({
      BENCH_CUSTOMERS: "200",
      BENCH_SECONDS: "0.4",
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
      .slice(headerAt + 2, headerAt + 9)
      .map(cellsOf)
      .map((cells) => Object.fromEntries(header.map((name, i) => [name, cells[i]])));
    expect(rows.map((row) => row.operation?.slice(0, 2))).toEqual([
      "0 ",
      "1 ",
      "2 ",
      "3 ",
      "4 ",
      "5 ",
      "6 ",
    ]);
    for (const row of rows) {
      for (const ratio of ["full/base", "full/bare"]) {
        expect(row[ratio]).toMatch(/^\d+\.\d\d×$/);
        // one round: its ratio is the median, the minimum and the maximum
        const value = row[ratio]!.slice(0, -1);
        expect(row[`${ratio} min–max`]).toBe(`${value}–${value}×`);
      }
      expect(row["errors f/b/bare"]).toBe("0 / 0 / 0");
      const [sqlFull, , sqlBare] = row["SQL/op f/b/bare"]!.split(" / ").map(Number);
      expect(sqlFull).toBeGreaterThan(0);
      expect(sqlFull).toBeLessThanOrEqual(6);
      // the bare server reads nothing for { __typename }, and something for every other operation
      if (row.operation!.startsWith("0 ")) expect(sqlBare).toBe(0);
      else expect(sqlBare).toBeGreaterThan(0);
      const cpu = row["CPU ms/op f/b/bare"]!.split(" / ").map(Number);
      expect(cpu).toHaveLength(3);
      for (const ms of cpu) expect(ms).toBeGreaterThan(0);
    }
    for (const [ratio, heading] of [
      ["full/base", "full/base per round, in order:"],
      ["full/bare", "full/bare per round, in order:"],
    ] as const) {
      const perRound = lines.slice(lines.indexOf(heading) + 1).slice(0, rows.length);
      for (const [i, row] of rows.entries()) {
        expect(perRound[i]).toBe(`  ${row.operation}: ${row[ratio]!.slice(0, -1)}`);
      }
    }
    // Each operation was answered alike (fields, types, number of nodes) by the three servers.
    for (const row of rows) {
      expect(stdout).toContain(
        `  ${row.operation}: done (answers of the same shape on every server)`,
      );
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
    // An anonymous address gets no more than its budget (production defaults: 200 points, 10 a
    // second, 1 per operation) over the flood: a 2 s lead, 0.8 s measured and 1 s more, plus a
    // second of slack. A flood fast enough to reach it gets 429s past it (at 8 connections, each
    // answered once its audit event is stored, a loaded machine may not get there in time).
    const anonymous = /flood \{ __typename \} \(anonymous\): (.*)/.exec(stdout)?.[1] ?? "";
    const answered = Number(/(\d+) × 200/.exec(anonymous)?.[1] ?? 0);
    expect(answered).toBeGreaterThan(0);
    expect(answered).toBeLessThanOrEqual(200 + 10 * (2 + 0.8 + 1 + 1));
    expect(stdout).toMatch(/Victim read p99 under flood \/ alone: \d+\.\d\d×/);
  }, 540_000);

  it.each([
    [
      { BENCH_SECONDS: "five" },
      'BENCH_SECONDS must be a number of seconds of at least 0.1 (got "five")',
    ],
    [{ BENCH_ROUNDS: "1.5" }, 'BENCH_ROUNDS must be a whole number of at least 1 (got "1.5")'],
  ])("refuses a knob it cannot use (%o), before starting anything", async (env, message) => {
    const failed = await bench(env).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain(message);
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
