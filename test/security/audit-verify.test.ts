import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { asc, eq, sql } from "drizzle-orm";
import postgres from "postgres";
import { describe, expect, it } from "vitest";
import { auditDraft } from "../support/audit-events.js";
import { copyEmptyEmbeddedDatabase, newPglite } from "../support/fresh-database.js";
import { type DatabaseHandle, openDatabase } from "../../src/db/client.js";
import { auditEvents } from "../../src/db/schema.js";
import { appendToChains } from "../../src/security/audit/chain.js";
import { type AuditEventDraft, chainHash, contentHash } from "../../src/security/audit/event.js";
import { projectPath } from "../../src/paths.js";
import { verifyChains } from "../../src/security/audit/verify.js";
import { testSigningKeyPem, testTrustedKeys, usingPostgres } from "../support/server.js";

/*
 * `npm run audit:verify` against a database an attacker edited directly in SQL, after dropping
 * the append-only triggers. Each case gets a fresh database (a new PostgreSQL database, or a
 * PGlite) holding six events written by the real chain writer, in two batches. On PGlite, whose
 * on-disk start is slow, the CLI runs for two cases and the others call what it calls.
 */

const run = promisify(execFile);

interface Scratch {
  database: DatabaseHandle;
  env: Record<string, string>;
  dispose(): Promise<void>;
}

async function scratchDatabase(forCli: boolean): Promise<Scratch> {
  if (usingPostgres()) {
    const name = `audit_verify_${randomBytes(5).toString("hex")}`;
    const admin = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    await admin`create database ${admin(name)}`;
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${name}`;
    const database = await openDatabase({
      databaseUrl: url.toString(),
      dataDir: tmpdir(),
      statementTimeoutMs: 5000,
    });
    return {
      database,
      env: { DATABASE_URL: url.toString() },
      dispose: async () => {
        await admin`drop database if exists ${admin(name)} with (force)`;
        await admin.end();
      },
    };
  }
  if (!forCli) {
    const pglite = await newPglite();
    const database = await openDatabase({ dataDir: tmpdir(), statementTimeoutMs: 5000, pglite });
    return { database, env: {}, dispose: () => pglite.close() };
  }
  const dataDir = mkdtempSync(join(tmpdir(), "audit-verify-"));
  await copyEmptyEmbeddedDatabase(dataDir);
  const database = await openDatabase({ dataDir, statementTimeoutMs: 5000 });
  return {
    database,
    env: { DATA_DIR: dataDir },
    dispose: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
  };
}

const draft = (n: number): AuditEventDraft =>
  auditDraft({
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)),
    ip: "203.0.113.7",
    userAgent: "verify-test",
    operationName: `Op${n}`,
    documentHash: "ab".repeat(32),
    variables: { n, nested: { b: [1, "two"], a: null } },
    sensitiveFields: ["Customer.email"],
    requestedCost: n,
    actualCost: null,
    durationMs: n,
  });

/** Runs the CLI the way an operator would; returns its exit code and report. */
async function verifyCli(env: Record<string, string>) {
  const cli = projectPath("dist/src/security/audit/cli/verify.js");
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const childEnv = {
    ...inherited,
    NODE_ENV: "test",
    AUDIT_SIGNING_KEY: testSigningKeyPem(),
    ...env,
  };
  try {
    const { stdout } = await run(process.execPath, [cli], { env: childEnv, cwd: projectPath(".") });
    return { code: 0, report: JSON.parse(stdout.trim().split("\n").at(-1)!) };
  } catch (error: any) {
    if (typeof error.code !== "number") throw error;
    return {
      code: error.code as number,
      report: JSON.parse(error.stdout.trim().split("\n").at(-1)),
    };
  }
}

const dropTriggers = [
  sql`drop trigger audit_events_no_update_or_delete on audit_events`,
  sql`drop trigger audit_chains_guard on audit_chains`,
];

/** Builds a chain of six events, lets `tamper` edit it as an attacker, and runs the CLI. */
async function tamperAndVerify(
  tamper?: (db: DatabaseHandle["db"]) => Promise<void>,
  options: { cli?: boolean } = {},
) {
  const cli = options.cli === true || usingPostgres();
  const scratch = await scratchDatabase(cli);
  try {
    const { db } = scratch.database;
    await db.transaction((tx) => appendToChains(tx, [1, 2, 3].map(draft)));
    await db.transaction((tx) => appendToChains(tx, [4, 5, 6].map(draft)));
    if (tamper) {
      for (const statement of dropTriggers) await db.execute(statement);
      await tamper(db);
    }
    if (!cli) {
      const report = await verifyChains(db, testTrustedKeys());
      return { code: report.intact ? 0 : 1, report: JSON.parse(JSON.stringify(report)) };
    }
    await scratch.database.close();
    return await verifyCli(scratch.env);
  } finally {
    await scratch.dispose();
  }
}

/** An event forged with the real hash function, chained to the event at `afterSeq`. */
async function forge(db: DatabaseHandle["db"], seq: number, afterSeq: number) {
  const [previous] = await db.select().from(auditEvents).where(eq(auditEvents.seq, afterSeq));
  const forged = { ...draft(seq), operationName: "Forged" };
  const hash = chainHash(previous!.hash, contentHash(forged));
  await db.insert(auditEvents).values({ ...forged, seq, prevHash: previous!.hash, hash });
}

// Generous: the CLI starts a fresh process and, on PGlite, an on-disk database (slow on a busy machine).
describe("npm run audit:verify", { timeout: 180_000 }, () => {
  it("exits 0 on an intact chain", async () => {
    const { code, report } = await tamperAndVerify(undefined, { cli: true });
    expect(code).toBe(0);
    expect(report).toMatchObject({ intact: true, chains: 1, events: 6 });
  });

  it("reports an edited event", async () => {
    const { code, report } = await tamperAndVerify(
      async (db) => {
        await db.update(auditEvents).set({ outcome: "DENIED" }).where(eq(auditEvents.seq, 3));
      },
      { cli: true },
    );
    expect(code).toBe(1);
    expect(report).toMatchObject({ intact: false, problem: { kind: "altered", seq: 3 } });
  });

  it("reports an edited event whose hash the attacker recomputed", async () => {
    const { code, report } = await tamperAndVerify(async (db) => {
      const [row] = await db.select().from(auditEvents).where(eq(auditEvents.seq, 2));
      const edited = { ...row!, operationName: "Innocent" };
      await db
        .update(auditEvents)
        .set({ operationName: "Innocent", hash: chainHash(row!.prevHash, contentHash(edited)) })
        .where(eq(auditEvents.seq, 2));
    });
    expect(code).toBe(1);
    expect(report.problem).toMatchObject({ kind: "altered", seq: 2 });
  });

  it("reports a deleted event", async () => {
    const { code, report } = await tamperAndVerify(async (db) => {
      await db.delete(auditEvents).where(eq(auditEvents.seq, 4));
    });
    expect(code).toBe(1);
    expect(report.problem).toMatchObject({ kind: "removed", seq: 4 });
  });

  it("reports events deleted from the end", async () => {
    const { code, report } = await tamperAndVerify(async (db) => {
      await db.delete(auditEvents).where(eq(auditEvents.seq, 6));
    });
    expect(code).toBe(1);
    expect(report.problem).toMatchObject({ kind: "removed", seq: 6 });
  });

  it("reports a forged event inserted in the middle (later events renumbered)", async () => {
    const { code, report } = await tamperAndVerify(async (db) => {
      await db.execute(sql`update audit_events set seq = seq + 100 where seq >= 4`);
      await db.execute(sql`update audit_events set seq = seq - 99 where seq >= 100`);
      await forge(db, 4, 3);
      const seqs = await db
        .select({ seq: auditEvents.seq })
        .from(auditEvents)
        .orderBy(asc(auditEvents.seq));
      expect(seqs.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    });
    expect(code).toBe(1);
    expect(report.problem).toMatchObject({ kind: "inserted", seq: 4 });
  });

  it("reports a forged event appended behind the chain head", async () => {
    const { code, report } = await tamperAndVerify(async (db) => {
      await forge(db, 7, 6);
    });
    expect(code).toBe(1);
    expect(report.problem).toMatchObject({ kind: "inserted", seq: 7 });
  });
});
