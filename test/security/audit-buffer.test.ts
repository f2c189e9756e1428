import { inArray } from "drizzle-orm";
import pino from "pino";
import { uuidv7 } from "../../src/db/uuidv7.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditDraft } from "../support/audit-events.js";
import type { DatabaseHandle } from "../../src/db/client.js";
import { auditEvents } from "../../src/db/schema.js";
import { AuditBuffer } from "../../src/security/audit/buffer.js";
import { type AuditEventDraft, expectedHash } from "../../src/security/audit/event.js";
import { sharedTestServer } from "../support/server.js";

/*
 * The write-behind buffer of query events on the real database: under a steady stream of
 * operations it writes batches, not a transaction chasing every new event.
 */

let database: DatabaseHandle;
beforeAll(async () => {
  database = (await sharedTestServer()).app.services.database;
});

const drafts: AuditEventDraft[] = [];
function draft(overrides: Partial<AuditEventDraft> = {}): AuditEventDraft {
  const event = auditDraft({
    userAgent: "audit-buffer-test",
    operationName: "BufferTest",
    ...overrides,
  });
  drafts.push(event);
  return event;
}

async function storedIds(events: AuditEventDraft[]): Promise<Set<string>> {
  const rows = await database.db
    .select({ id: auditEvents.id })
    .from(auditEvents)
    .where(
      inArray(
        auditEvents.id,
        events.map((e) => e.id),
      ),
    );
  return new Set(rows.map((row) => row.id));
}

/** What the server does per operation: a slot when admitted, then its event. */
function enqueue(buffer: AuditBuffer, events: AuditEventDraft[]): void {
  for (const event of events) {
    buffer.tryReserve(1);
    buffer.push(event);
  }
}

function newBuffer(batchSize: number) {
  const written: number[] = [];
  const buffer = new AuditBuffer(database.db, pino({ level: "silent" }), {
    capacity: 1_000,
    flushMs: 3_600_000, // no timer flush during the test: every write is one we asked for
    batchSize,
    onWritten: (rows) => written.push(rows.length),
  });
  return { buffer, written };
}

describe("the audit buffer", () => {
  let open: AuditBuffer[] = [];
  afterAll(async () => {
    for (const buffer of open) await buffer.close();
    open = [];
  });

  it("a flush writes the events queued when it began; later ones wait for the next flush", async () => {
    const { buffer, written } = newBuffer(500);
    open.push(buffer);
    const first = [draft(), draft(), draft()];
    enqueue(buffer, first);
    const flushing = buffer.flush();
    // Operations answered while the batch is being written.
    const later = [draft(), draft()];
    enqueue(buffer, later);
    await flushing;

    expect(written).toEqual([3]);
    expect(buffer.status()).toMatchObject({ pending: 2, reserved: 2, failing: false });
    expect(await storedIds(first)).toEqual(new Set(first.map((e) => e.id)));
    expect((await storedIds(later)).size).toBe(0);

    // Nothing is lost: the next flush writes them.
    await buffer.flush();
    expect(written).toEqual([3, 2]);
    expect(buffer.status()).toMatchObject({ pending: 0, reserved: 0 });
    expect(await storedIds(later)).toEqual(new Set(later.map((e) => e.id)));
  });

  it("a flush asked for during a write also writes what was queued before it was asked", async () => {
    const { buffer, written } = newBuffer(500);
    open.push(buffer);
    const first = [draft(), draft(), draft()];
    enqueue(buffer, first);
    const running = buffer.flush(); // e.g. the timer's
    const second = [draft(), draft()];
    enqueue(buffer, second);
    await buffer.flush(); // e.g. a test, or shutdown, while the timer's write is running
    expect(written).toEqual([3, 2]);
    expect(buffer.status()).toMatchObject({ pending: 0, reserved: 0 });
    expect(await storedIds([...first, ...second])).toEqual(
      new Set([...first, ...second].map((e) => e.id)),
    );
    await running;
  });

  it("a full batch is written without waiting for the timer, in batches of batchSize", async () => {
    const { buffer, written } = newBuffer(4);
    open.push(buffer);
    const events = Array.from({ length: 10 }, () => draft());
    enqueue(buffer, events);
    // The fourth event started a flush of four; the six queued meanwhile are a full batch, so a
    // second flush follows at once and writes them (4 + 2), with no timer and no flush() call.
    const total = () => written.reduce((sum, n) => sum + n, 0);
    for (let waited = 0; total() < 10 && waited < 10_000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(written).toEqual([4, 4, 2]);
    expect(buffer.status()).toMatchObject({ pending: 0, reserved: 0 });
    expect(await storedIds(events)).toEqual(new Set(events.map((e) => e.id)));
  });

  it("a batch no write has tried is appended without asking which events are stored", async () => {
    const { buffer, written } = newBuffer(500);
    open.push(buffer);
    const events = [draft(), draft()];
    enqueue(buffer, events);
    const statements: string[] = [];
    const stop = database.observe((query) => statements.push(query));
    try {
      await buffer.flush();
    } finally {
      stop();
    }
    expect(written).toEqual([2]);
    expect(statements.filter((q) => /^select .* from "audit_events"/i.test(q))).toEqual([]);
    expect(statements.filter((q) => /^insert into "audit_events"/i.test(q))).toHaveLength(1);
  });

  it("a batch retried after a commit whose acknowledgement was lost stores each event once", async () => {
    // The real database behind a connection that drops the first commit's reply: the events
    // are stored, but the buffer sees a failure and keeps them for a retry.
    let acknowledgementLost = false;
    const losing = Object.create(database.db) as typeof database.db;
    losing.transaction = (async (run: Parameters<typeof database.db.transaction>[0]) => {
      const result = await database.db.transaction(run);
      if (!acknowledgementLost) {
        acknowledgementLost = true;
        throw new Error("connection lost before the commit was acknowledged");
      }
      return result;
    }) as typeof database.db.transaction;
    const written: number[] = [];
    const buffer = new AuditBuffer(losing, pino({ level: "silent" }), {
      capacity: 1_000,
      flushMs: 3_600_000,
      batchSize: 500,
      onWritten: (rows) => written.push(rows.length),
    });
    const events = [draft(), draft(), draft()];
    enqueue(buffer, events);
    await buffer.flush();
    expect(buffer.status()).toMatchObject({ pending: 3, failing: true });
    expect(await storedIds(events)).toEqual(new Set(events.map((e) => e.id)));

    await buffer.close(); // retries at once: finds all three stored, writes none again
    expect(buffer.status()).toMatchObject({ pending: 0, reserved: 0, failing: false });
    expect(written).toEqual([0]);
    expect(await storedIds(events)).toEqual(new Set(events.map((e) => e.id)));
  });

  it("stores every value exactly as it was hashed, whatever characters it holds", async () => {
    const { buffer } = newBuffer(500);
    open.push(buffer);
    const awkward = `quote " backslash \\ comma, {brace} [bracket] 'single' \n newline ünïcødé 🔐`;
    const events = [
      draft({
        orgId: uuidv7(),
        actorType: "USER",
        actorId: uuidv7(),
        userAgent: awkward,
        operationName: awkward,
        variables: { text: awkward, nested: { list: [1, "two", null, { deep: true }] }, n: 1.5 },
        outcome: "DENIED",
        errorCodes: ["FORBIDDEN", awkward],
        sensitiveFields: ["Customer.email", "Customer.phone"],
        deniedFields: [awkward, "Customer.taxIdLast4"],
        actualCost: null,
        at: new Date("2026-11-27T12:34:56.789Z"),
      }),
      draft({ ip: null, userAgent: null, operationType: null, variables: null }),
    ];
    enqueue(buffer, events);
    await buffer.flush();
    const rows = await database.db
      .select()
      .from(auditEvents)
      .where(
        inArray(
          auditEvents.id,
          events.map((e) => e.id),
        ),
      );
    expect(rows).toHaveLength(2);
    for (const event of events) {
      const row = rows.find((r) => r.id === event.id)!;
      expect(row).toMatchObject(event);
      expect(expectedHash(row)).toBe(row.hash);
    }
  });
});
