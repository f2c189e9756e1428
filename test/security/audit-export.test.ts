import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditDraft } from "../support/audit-events.js";
import { type DatabaseHandle, openDatabase } from "../../src/db/client.js";
import {
  type AuditCheckpointRow,
  auditChains,
  auditCheckpoints,
  auditEvents,
} from "../../src/db/schema.js";
import { uuidv7 } from "../../src/db/uuidv7.js";
import { toGlobalId } from "../../src/graphql/ids.js";
import { projectPath } from "../../src/paths.js";
import { appendToChains } from "../../src/security/audit/chain.js";
import {
  Checkpointer,
  checkpointRecord,
  writeCheckpoints,
} from "../../src/security/audit/checkpoint.js";
import { checkPinnedInDatabase, readPinned } from "../../src/security/audit/pinned.js";
import { createLogger } from "../../src/logger.js";
import type { AuditEventDraft } from "../../src/security/audit/event.js";
import { exportChain, exportLine } from "../../src/security/audit/export.js";
import {
  parsePublicKey,
  publicKeyPem,
  signerOf,
  TrustedKeys,
} from "../../src/security/audit/signing.js";
import { type PinnedCheckpoint, verifyExport } from "../../src/security/audit/verify-export.js";
import { verifyChains } from "../../src/security/audit/verify.js";
import {
  copyEmptyEmbeddedDatabase,
  freshDatabase,
  type FreshDatabase,
} from "../support/fresh-database.js";
import { usingPostgres } from "../support/server.js";

/*
 * An organization's audit chain leaves the service as JSON Lines (events and signed
 * checkpoints) and an auditor verifies it with the public key alone. Every byte of every line,
 * every line's presence and every line's place are vouched for: each tampering below is caught
 * at the line it touched. The commands run as an operator runs them, once each.
 */

const run = promisify(execFile);
const { privateKey } = generateKeyPairSync("ed25519");
const signer = signerOf(privateKey);
const trusted = new TrustedKeys([privateKey]);
const orgA = uuidv7();
const orgB = uuidv7();

let clock = Date.UTC(2026, 11, 1, 9, 0, 0);
function draft(orgId: string, name: string, variables: unknown = null): AuditEventDraft {
  clock += 1000;
  return auditDraft({
    orgId,
    at: new Date(clock),
    actorType: "USER",
    actorId: uuidv7(),
    userAgent: "export-test/1.0 (é)",
    operationType: name.startsWith("Create") ? "mutation" : "query",
    operationName: name,
    variables,
    sensitiveFields: ["Customer.email"],
  });
}

/** PostgreSQL: a database of its own. PGlite: one on disk, which the commands open once it closes. */
let fresh: FreshDatabase | undefined;
let database: DatabaseHandle;
let dataDir: string;
let exported: string[];
let closed = false;
/** The checkpoint kept of a chain that is then rewritten (see below). */
let rewrittenPin: AuditCheckpointRow | undefined;

async function exportOf(chainId: string, since?: Date): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of exportChain(database.db, { chainId, ...(since ? { since } : {}) })) {
    lines.push(line);
  }
  return lines;
}

const verify = (lines: readonly string[], keys = trusted) =>
  verifyExport(Buffer.from(lines.join("")), keys);

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "audit-export-"));
  if (usingPostgres()) fresh = await freshDatabase();
  else await copyEmptyEmbeddedDatabase(dataDir);
  database = await openDatabase({
    ...(fresh ? { databaseUrl: fresh.env.DATABASE_URL! } : {}),
    dataDir,
    statementTimeoutMs: 5000,
  });
  const { db } = database;
  await db.transaction((tx) =>
    appendToChains(tx, [
      draft(orgA, "ListCustomers"),
      draft(orgB, "Other"),
      draft(orgA, "CreateNote", { body: { length: 12, fingerprint: "ab".repeat(16) } }),
      draft(orgA, "Me"),
    ]),
  );
  await writeCheckpoints(db, signer);
  await db.transaction((tx) =>
    appendToChains(tx, [draft(orgA, "CreateCustomer", { n: 1 }), draft(orgA, "Customer")]),
  );
  await writeCheckpoints(db, signer);
  await db.transaction((tx) => appendToChains(tx, [draft(orgA, "Later")]));
  await writeCheckpoints(db, signer, { chains: [orgA] });
  exported = await exportOf(orgA);
});

afterAll(async () => {
  if (!closed) await database?.close();
  await fresh?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The exported lines: 0-3 events seq 1-3 then their checkpoint, and so on. */
const kinds = () => exported.map((line) => (JSON.parse(line) as { type: string }).type);

describe("an organization's export", () => {
  it("holds only that organization's events, each checkpoint right after the event it signed", () => {
    expect(kinds()).toEqual([
      "event",
      "event",
      "event",
      "checkpoint",
      "event",
      "event",
      "checkpoint",
      "event",
      "checkpoint",
    ]);
    for (const line of exported) {
      expect(JSON.parse(line)).toMatchObject({ chainId: orgA, orgId: orgA });
      expect(line.endsWith("\n")).toBe(true);
    }
  });

  it("verifies offline with the public key alone, and not with another key", () => {
    // as an auditor holds it: the PEM that audit:public-key prints
    const auditor = new TrustedKeys([parsePublicKey(publicKeyPem(privateKey))]);
    expect(verify(exported, auditor)).toEqual(verify(exported));
    expect(verify(exported)).toEqual({
      intact: true,
      chainId: orgA,
      fromSeq: 0,
      events: 6,
      checkpoints: 3,
      lastSeq: 6,
    });
    const stranger = new TrustedKeys([generateKeyPairSync("ed25519").publicKey]);
    expect(verify(exported, stranger)).toMatchObject({
      intact: false,
      line: 4,
      message: expect.stringMatching(/^line 4: checkpoint seq 3 is signed by a key not trusted/),
    });
  });

  it("from --since: starts at the checkpoint before the first event since then, and verifies", async () => {
    const fifth = JSON.parse(exported[4]!) as { at: string; seq: number };
    expect(fifth.seq).toBe(4);
    const since = await exportOf(orgA, new Date(fifth.at));
    expect(since).toEqual(exported.slice(3));
    expect(verify(since)).toMatchObject({ intact: true, fromSeq: 3, events: 3, checkpoints: 3 });
    // from a checkpoint that is not the chain's first: its link back cannot be checked here
    const eighth = JSON.parse(exported[7]!) as { at: string; seq: number };
    const later = await exportOf(orgA, new Date(eighth.at));
    expect(later).toEqual(exported.slice(6));
    expect(verify(later)).toMatchObject({ intact: true, fromSeq: 5, events: 1, checkpoints: 2 });
  });

  it("catches a change to any byte of any line, naming that line", () => {
    let changes = 0;
    exported.forEach((line, index) => {
      for (let at = 0; at < line.length; at++) {
        const original = line[at]!;
        const replacement = /[0-9]/.test(original)
          ? String((Number(original) + 1) % 10)
          : original === "a"
            ? "b"
            : "a";
        const changed = [...exported];
        changed[index] = line.slice(0, at) + replacement + line.slice(at + 1);
        const report = verify(changed);
        if (report.intact || report.line !== index + 1) {
          throw new Error(
            `byte ${at} of line ${index + 1} (${original}→${replacement}): ${JSON.stringify(report)}`,
          );
        }
        changes += 1;
      }
    });
    expect(changes).toBe(exported.join("").length);
  });

  it("catches a removed line, at the line where the chain or the checkpoints break", () => {
    // an event's removal shows where it was; a checkpoint's at the next checkpoint (which no longer
    // follows it) or, for the last, at the first event left uncovered
    const expectedLine = [1, 2, 3, 6, 5, 6, 8, 8, 8];
    exported.forEach((_, index) => {
      const without = exported.filter((__, i) => i !== index);
      const report = verify(without);
      expect(report, `without line ${index + 1}`).toMatchObject({
        intact: false,
        line: expectedLine[index],
      });
    });
  });

  it("catches two lines swapped, naming the first one out of place", () => {
    const types = kinds();
    for (let index = 0; index + 1 < exported.length; index++) {
      const swapped = [...exported];
      [swapped[index], swapped[index + 1]] = [swapped[index + 1]!, swapped[index]!];
      // a checkpoint moved after the next event: that event still chains, the checkpoint is late
      const outOfPlace = types[index] === "checkpoint" ? index + 2 : index + 1;
      expect(verify(swapped), `lines ${index + 1} and ${index + 2} swapped`).toMatchObject({
        intact: false,
        line: outOfPlace,
      });
    }
  });

  it("refuses hostile lines as failures of that line, never by crashing or running out of memory", () => {
    const event = JSON.parse(exported[0]!) as Record<string, unknown>;
    const checkpoint = JSON.parse(exported[3]!) as Record<string, unknown>;
    const DEEP = "[deep]"; // replaced in the line by 5,000 nested arrays (too deep to build here)
    const hostile: [string, Record<string, unknown>][] = [
      ["a 5,000-deep value", { ...event, variables: DEEP }],
      ["a number as a hash", { ...event, prevHash: 12 }],
      ["an array-like object as a hash", { ...event, prevHash: { length: 1_500_000_000 } }],
      ["a null link", { ...event, prevHash: null }],
      ["a number as a signature", { ...checkpoint, signature: 12345 }],
      ["an object as a key id", { ...checkpoint, keyId: { toString: "x" } }],
    ];
    for (const [what, record] of hostile) {
      const line = JSON.stringify(
        Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1))),
      ).replace(JSON.stringify(DEEP), `${"[".repeat(5_000)}1${"]".repeat(5_000)}`);
      const report = verify([exported[0]!, `${line}\n`, ...exported.slice(1)]);
      expect(report, what).toMatchObject({ intact: false, line: 2 });
    }
  });

  it("refuses an export cut short, or padded with a line of another organization's", async () => {
    const cut = exported.join("").slice(0, -1);
    expect(verifyExport(Buffer.from(cut), trusted)).toMatchObject({ intact: false, line: 9 });
    const other = await exportOf(orgB);
    expect(verify([...exported, other[0]!])).toMatchObject({ intact: false, line: 10 });
  });
});

describe("the database's checkpoints", () => {
  it("vouch for the chain: verifyChains checks every one", async () => {
    expect(await verifyChains(database.db, trusted)).toMatchObject({
      intact: true,
      chains: 2,
      events: 7,
      checkpoints: 4, // A at seq 3, 5 and 6; B at seq 1 (it did not move after)
    });
  });

  it("catch the end of a chain cut off, with its head moved back to match", async () => {
    const { db } = database;
    const [last] = await db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.chainId, orgA))
      .orderBy(sql`seq desc`)
      .limit(1);
    const [before] = await db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.chainId, orgA))
      .orderBy(sql`seq desc`)
      .offset(1)
      .limit(1);
    try {
      await db.execute(sql`alter table audit_events disable trigger user`);
      await db.execute(sql`alter table audit_chains disable trigger user`);
      await db.delete(auditEvents).where(eq(auditEvents.id, last!.id));
      await db
        .update(auditChains)
        .set({ seq: before!.seq, hash: before!.hash, prevHash: before!.prevHash })
        .where(eq(auditChains.chainId, orgA));
      expect(await verifyChains(db, trusted)).toMatchObject({
        intact: false,
        problem: {
          kind: "checkpoint",
          chainId: orgA,
          seq: 6,
          message: expect.stringMatching(/names an event the chain does not have/),
        },
      });
    } finally {
      await db.insert(auditEvents).values(last!);
      await db
        .update(auditChains)
        .set({ seq: last!.seq, hash: last!.hash, prevHash: last!.prevHash })
        .where(eq(auditChains.chainId, orgA));
      await db.execute(sql`alter table audit_events enable trigger user`);
      await db.execute(sql`alter table audit_chains enable trigger user`);
    }
    expect(await verifyChains(db, trusted)).toMatchObject({ intact: true });
  });

  it("catch a checkpoint edited in the database", async () => {
    const { db } = database;
    const [first] = await db
      .select()
      .from(auditCheckpoints)
      .where(eq(auditCheckpoints.chainId, orgA))
      .orderBy(auditCheckpoints.seq)
      .limit(1);
    try {
      await db.execute(sql`alter table audit_checkpoints disable trigger user`);
      await db
        .update(auditCheckpoints)
        .set({ at: new Date(first!.at.getTime() + 1) })
        .where(eq(auditCheckpoints.id, first!.id));
      expect(await verifyChains(db, trusted)).toMatchObject({
        intact: false,
        problem: { kind: "checkpoint", id: first!.id, message: expect.stringMatching(/signature/) },
      });
    } finally {
      await db
        .update(auditCheckpoints)
        .set({ at: first!.at })
        .where(eq(auditCheckpoints.id, first!.id));
      await db.execute(sql`alter table audit_checkpoints enable trigger user`);
    }
  });
});

describe("a chain rewritten behind the service, checkpoints and all", () => {
  // The attacker controls the database (drops the triggers): they cut an organization's chain
  // back to an early checkpoint, append events of their own with correct hashes, delete the
  // later checkpoints and get the tail signed (as audit:export signs what it finds).
  const orgC = uuidv7();
  const lines: string[] = [];
  let checkpointer: Checkpointer;
  let pinned: AuditCheckpointRow;

  beforeAll(async () => {
    const { db } = database;
    checkpointer = new Checkpointer(
      db,
      signer,
      createLogger("info", { write: (line: string) => void lines.push(line) }),
      3_600_000,
    );
    await db.transaction((tx) =>
      appendToChains(
        tx,
        [1, 2, 3].map((n) => draft(orgC, `C${n}`)),
      ),
    );
    await checkpointer.run([orgC]);
    await db.transaction((tx) =>
      appendToChains(
        tx,
        [4, 5].map((n) => draft(orgC, `C${n}`)),
      ),
    );
    const [latest] = await checkpointer.run([orgC]); // kept by the auditor (or the SIEM)
    expect(latest).toMatchObject({ seq: 5 });
    pinned = latest!;
    rewrittenPin = latest!;

    await db.execute(sql`alter table audit_events disable trigger user`);
    await db.execute(sql`alter table audit_chains disable trigger user`);
    await db.execute(sql`alter table audit_checkpoints disable trigger user`);
    await db.execute(sql`delete from audit_checkpoints where chain_id = ${orgC} and seq > 3`);
    await db.execute(sql`delete from audit_events where chain_id = ${orgC} and seq > 3`);
    const [third] = await db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.chainId, orgC), eq(auditEvents.seq, 3)));
    await db
      .update(auditChains)
      .set({ seq: 3, hash: third!.hash, prevHash: third!.prevHash })
      .where(eq(auditChains.chainId, orgC));
    await db.execute(sql`alter table audit_events enable trigger user`);
    await db.execute(sql`alter table audit_chains enable trigger user`);
    await db.execute(sql`alter table audit_checkpoints enable trigger user`);
    await db.transaction((tx) =>
      appendToChains(
        tx,
        [4, 5].map((n) => draft(orgC, `Forged${n}`)),
      ),
    );
    await writeCheckpoints(db, signer, { chains: [orgC] });
  });

  it("is consistent again for a verifier that has only the database", async () => {
    expect(await verifyChains(database.db, trusted)).toMatchObject({ intact: true });
  });

  it("is caught by a checkpoint kept outside it: the database, or an export", async () => {
    const pin = exportLine(checkpointRecord(pinned));
    const read = readPinned(`{"msg":"other"}\n${pin}`, trusted);
    expect(read).toEqual({ pinned: [{ line: 2, checkpoint: pinned }] });
    const { pinned: pins } = read as { pinned: PinnedCheckpoint[] };
    expect(await checkPinnedInDatabase(database.db, pins)).toMatchObject({
      line: 2,
      message: expect.stringMatching(/is not in the database: its checkpoints were rewritten/),
    });
    const rewritten = await exportOf(orgC);
    expect(verify(rewritten)).toMatchObject({ intact: true, lastSeq: 5 });
    expect(verifyExport(Buffer.from(rewritten.join("")), trusted, pins)).toMatchObject({
      intact: false,
      message: expect.stringMatching(/is not the one the checkpoint pinned on line 2 signed/),
    });
    // a pin the export does not reach: it was cut
    const cut = rewritten.slice(0, 4);
    expect(verifyExport(Buffer.from(cut.join("")), trusted, pins)).toMatchObject({
      intact: false,
      message: expect.stringMatching(/ends at seq 3, before the checkpoint of seq 5 pinned/),
    });
    // a pin of another chain says nothing about this one
    const [ofA] = await database.db
      .select()
      .from(auditCheckpoints)
      .where(eq(auditCheckpoints.chainId, orgA))
      .limit(1);
    expect(
      verifyExport(Buffer.from(exported.join("")), trusted, [
        ...pins,
        { line: 3, checkpoint: ofA! },
      ]),
    ).toMatchObject({ intact: true });
  });

  it("is no longer checkpointed by a server that signed what was there before", async () => {
    await database.db.transaction((tx) => appendToChains(tx, [draft(orgC, "AfterRewrite")]));
    const before = await database.db
      .select()
      .from(auditCheckpoints)
      .where(eq(auditCheckpoints.chainId, orgC));
    expect(await checkpointer.run()).toEqual([]);
    expect(
      await database.db.select().from(auditCheckpoints).where(eq(auditCheckpoints.chainId, orgC)),
    ).toHaveLength(before.length);
    const refusals = lines.filter((line) => line.includes("audit chain rewritten"));
    expect(refusals).toHaveLength(1);
    expect(JSON.parse(refusals[0]!)).toMatchObject({ level: 50, chainId: orgC });
    await checkpointer.run(); // reported once
    expect(lines.filter((line) => line.includes("audit chain rewritten"))).toHaveLength(1);
  });
});

describe("npm run audit:export, audit:public-key and audit:verify --file", () => {
  const cli = (name: string) => projectPath(`dist/src/security/audit/cli/${name}.js`);
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const env = () => ({
    ...inherited,
    NODE_ENV: "test",
    AUDIT_SIGNING_KEY: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    ...(fresh ? { DATABASE_URL: fresh.env.DATABASE_URL! } : { DATA_DIR: dataDir }),
  });
  const exitOf = async (file: string, args: string[]) => {
    try {
      const { stdout } = await run(process.execPath, [cli(file), ...args], {
        env: env(),
        cwd: projectPath("."),
      });
      return { code: 0, stdout };
    } catch (error: any) {
      if (typeof error.code !== "number") throw error;
      return { code: error.code as number, stdout: error.stdout as string };
    }
  };

  it("exports with a checkpoint made now, and the export verifies; one changed byte exits 1 naming its line", async () => {
    const { db } = database;
    await db.transaction((tx) => appendToChains(tx, [draft(orgA, "NotYetCheckpointed")]));
    if (!fresh) {
      await database.close(); // PGlite on disk has one process at a time: the commands' now
      closed = true;
    }
    const dir = mkdtempSync(join(tmpdir(), "audit-export-cli-"));
    try {
      const exportRun = await exitOf("export", [
        "--organization",
        toGlobalId("Organization", orgA),
      ]);
      expect(exportRun.code).toBe(0);
      const lines = exportRun.stdout.split(/(?<=\n)/);
      expect(lines).toHaveLength(11); // the new event and a checkpoint written for it
      const file = join(dir, "org.jsonl");
      writeFileSync(file, exportRun.stdout);
      const publicKey = await exitOf("public-key", []);
      expect(publicKey.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
      const keyFile = join(dir, "audit.pub");
      writeFileSync(keyFile, publicKey.stdout);

      const intact = await exitOf("verify", ["--file", file, "--public-key", keyFile]);
      expect(intact.code).toBe(0);
      expect(JSON.parse(intact.stdout)).toMatchObject({ intact: true, events: 7, checkpoints: 4 });

      writeFileSync(file, exportRun.stdout.replace('"operationName":"Me"', '"operationName":"Mf"'));
      const tampered = await exitOf("verify", ["--file", file, "--public-key", keyFile]);
      expect(tampered.code).toBe(1);
      expect(JSON.parse(tampered.stdout)).toMatchObject({ intact: false, line: 3 });
      expect((await exitOf("verify", ["--file", file])).code).toBe(2); // no key: a usage error

      // checkpoints kept elsewhere: the export's last one holds; the one of the rewritten chain
      // (see above) is not in the database any more
      const pins = join(dir, "pinned.jsonl");
      writeFileSync(pins, lines.at(-1)!);
      const stillTampered = await exitOf("verify", [
        "--file",
        file,
        "--public-key",
        keyFile,
        "--pinned",
        pins,
      ]);
      expect(stillTampered.code).toBe(1); // the file is still the tampered one
      writeFileSync(file, exportRun.stdout);
      expect(
        (await exitOf("verify", ["--file", file, "--public-key", keyFile, "--pinned", pins])).code,
      ).toBe(0);
      expect((await exitOf("verify", ["--pinned", pins])).code).toBe(0);
      writeFileSync(
        pins,
        `${JSON.stringify({ msg: "audit checkpoint", checkpoint: checkpointRecord(rewrittenPin!) })}\n`,
      );
      const rewrittenInDatabase = await exitOf("verify", ["--pinned", pins]);
      expect(rewrittenInDatabase.code).toBe(1);
      expect(JSON.parse(rewrittenInDatabase.stdout)).toMatchObject({
        intact: false,
        pinned: { line: 1 },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000); // eleven commands, each a Node process
});
