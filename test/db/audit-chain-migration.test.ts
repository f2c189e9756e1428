import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq, sql } from "drizzle-orm";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditDraft } from "../support/audit-events.js";
import { type DatabaseHandle, openDatabase } from "../../src/db/client.js";
import { type AuditEventRow, auditChains, auditEvents } from "../../src/db/schema.js";
import { uuidv7 } from "../../src/db/uuidv7.js";
import { projectPath } from "../../src/paths.js";
import { appendEvent, appendToChains } from "../../src/security/audit/chain.js";
import {
  type AuditEventDraft,
  GENESIS_HASH,
  LEGACY_CHAIN,
  legacyEventHash,
} from "../../src/security/audit/event.js";
import { verifyChains } from "../../src/security/audit/verify.js";
import { freshDatabase, type FreshDatabase } from "../support/fresh-database.js";
import { testTrustedKeys } from "../support/server.js";

/*
 * An installation of the release before chains per organization upgrades in place: its single
 * chain (written here the way that release wrote it, into its schema) becomes the legacy chain,
 * which still verifies as written, and new events go to their organizations' chains.
 */

const FIRST_PER_ORGANIZATION_MIGRATION = 6;

/** The migrations folder as the previous release shipped it. */
function previousReleaseMigrations(): string {
  const dir = mkdtempSync(join(tmpdir(), "migrations-"));
  cpSync(projectPath("drizzle"), dir, { recursive: true });
  const journalPath = join(dir, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { idx: number }[] };
  journal.entries = journal.entries.filter((e) => e.idx < FIRST_PER_ORGANIZATION_MIGRATION);
  writeFileSync(journalPath, JSON.stringify(journal));
  return dir;
}

type LegacyEvent = Omit<AuditEventRow, "chainId">;

/** Writes `count` events the way the previous release did: one chain, hashes over every column. */
async function writeLegacyChain(
  execute: (query: ReturnType<typeof sql>) => Promise<unknown>,
  count: number,
) {
  let prevHash = GENESIS_HASH;
  const written: LegacyEvent[] = [];
  for (let seq = 1; seq <= count; seq++) {
    const unhashed = {
      id: uuidv7(),
      seq,
      orgId: seq % 2 === 0 ? uuidv7() : null,
      at: new Date(Date.UTC(2026, 10, 1, 0, 0, seq)),
      actorType: "ANONYMOUS" as const,
      actorId: null,
      ip: "203.0.113.7",
      userAgent: "legacy",
      operationType: "query",
      operationName: `Legacy${seq}`,
      documentHash: "ab".repeat(32),
      variables: { seq },
      outcome: "SUCCESS" as const,
      errorCodes: [],
      sensitiveFields: [],
      deniedFields: [],
      requestedCost: seq,
      actualCost: seq,
      requestId: uuidv7(),
      durationMs: seq,
      prevHash,
    };
    const event = {
      ...unhashed,
      hash: legacyEventHash({ ...unhashed, chainId: LEGACY_CHAIN, hash: "" }),
    };
    const record = Object.fromEntries(
      Object.entries(event).map(([key, value]) => [
        key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
        value,
      ]),
    );
    await execute(
      sql`insert into audit_events select * from json_populate_record(null::audit_events, ${JSON.stringify(record)}::json)`,
    );
    await execute(sql`update audit_chain_head set seq = ${seq}, hash = ${event.hash} where id = 1`);
    written.push(event);
    prevHash = event.hash;
  }
  return written;
}

const draft = (orgId: string): AuditEventDraft =>
  auditDraft({
    orgId,
    actorType: "USER",
    actorId: uuidv7(),
    userAgent: "upgraded",
    operationType: "mutation",
    operationName: "AfterUpgrade",
  });

describe("upgrading an audit log written by the single-chain release", { timeout: 60_000 }, () => {
  let fresh: FreshDatabase;
  let database: DatabaseHandle;
  let legacy: LegacyEvent[];
  let migrations: string;

  beforeAll(async () => {
    migrations = previousReleaseMigrations();
    fresh = await freshDatabase();
    if (fresh.pglite) {
      const db = drizzlePglite({ client: fresh.pglite });
      await migratePglite(db, { migrationsFolder: migrations });
      legacy = await writeLegacyChain((q) => db.execute(q), 5);
      database = await openDatabase({
        dataDir: tmpdir(),
        statementTimeoutMs: 5000,
        pglite: fresh.pglite,
      });
    } else {
      const client = postgres(fresh.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
      const db = drizzlePostgres({ client });
      await migratePostgres(db, { migrationsFolder: migrations });
      legacy = await writeLegacyChain((q) => db.execute(q), 5);
      await client.end();
      database = await openDatabase({
        databaseUrl: fresh.env.DATABASE_URL!,
        dataDir: tmpdir(),
        statementTimeoutMs: 5000,
      });
    }
  });

  afterAll(async () => {
    if (database && !fresh.pglite) await database.close();
    await fresh?.drop();
    rmSync(migrations, { recursive: true, force: true });
  });

  it("keeps the old events, with their seqs and hashes, as the legacy chain, which verifies", async () => {
    const rows = await database.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.chainId, LEGACY_CHAIN))
      .orderBy(auditEvents.seq);
    expect(rows.map((r) => [r.seq, r.hash])).toEqual(legacy.map((e) => [e.seq, e.hash]));
    const [head] = await database.db
      .select()
      .from(auditChains)
      .where(eq(auditChains.chainId, LEGACY_CHAIN));
    expect(head).toMatchObject({ seq: 5, hash: legacy[4]!.hash, prevHash: legacy[3]!.hash });
    expect(await verifyChains(database.db, testTrustedKeys())).toEqual({
      intact: true,
      chains: 1,
      events: 5,
      checkpoints: 0,
    });
  });

  it("appends new events to their organizations' chains, each starting at seq 1", async () => {
    const [a, b] = [uuidv7(), uuidv7()];
    await database.db.transaction((tx) => appendToChains(tx, [draft(a), draft(b), draft(a)]));
    const { row: appended } = await database.db.transaction((tx) => appendEvent(tx, draft(b)));
    expect(appended).toMatchObject({ chainId: b, seq: 2 });
    const seqs = await database.db
      .select({ chainId: auditEvents.chainId, seq: auditEvents.seq })
      .from(auditEvents)
      .where(eq(auditEvents.userAgent, "upgraded"))
      .orderBy(auditEvents.chainId, auditEvents.seq);
    expect(seqs.filter((r) => r.chainId === a).map((r) => r.seq)).toEqual([1, 2]);
    expect(seqs.filter((r) => r.chainId === b).map((r) => r.seq)).toEqual([1, 2]);
    expect(await verifyChains(database.db, testTrustedKeys())).toEqual({
      intact: true,
      chains: 3,
      events: 9,
      checkpoints: 0,
    });
  });

  it("still finds an edit to a legacy event", async () => {
    await database.db.execute(sql`drop trigger audit_events_no_update_or_delete on audit_events`);
    await database.db
      .update(auditEvents)
      .set({ operationName: "Edited" })
      .where(eq(auditEvents.id, legacy[2]!.id));
    expect(await verifyChains(database.db, testTrustedKeys())).toMatchObject({
      intact: false,
      problem: { kind: "altered", chainId: LEGACY_CHAIN, seq: 3 },
    });
  });
});
