import pino from "pino";
import { uuidv7 } from "../../src/db/uuidv7.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditDraft } from "../support/audit-events.js";
import type { DatabaseHandle } from "../../src/db/client.js";
import { asc, eq, inArray, sql } from "drizzle-orm";
import { auditEvents } from "../../src/db/schema.js";
import { AuditBuffer } from "../../src/security/audit/buffer.js";
import { appendEvent } from "../../src/security/audit/chain.js";
import { type AuditEventDraft, expectedHash } from "../../src/security/audit/event.js";
import { rawRows } from "../../src/db/raw-rows.js";
import { sharedTestServer, usingPostgres } from "../support/server.js";

/*
 * The group commit of query events on the real database: an event is written as soon as no
 * write is under way, with every event queued during the write before it; an operation waits
 * until its event is stored, or is told in time that it could not be.
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

/** What the server does per operation: a slot when admitted, then its event (and a wait). */
function enqueue(buffer: AuditBuffer, events: AuditEventDraft[]): Promise<boolean>[] {
  return events.map((event) => {
    buffer.tryReserve(1);
    return buffer.push(event);
  });
}

/**
 * The test database with every statement (and every transaction as a whole) run through
 * `around`, wherever the code under test sends it from: Drizzle's query builders, db.execute and
 * statements built once (fixedStatement) all prepare their query through the session.
 */
function intercepted(around: <T>(run: () => Promise<T>) => Promise<T>): typeof database.db {
  type Prepared = { execute(...args: unknown[]): Promise<unknown> };
  type Session = { prepareQuery(...args: unknown[]): Prepared };
  const real = (database.db as unknown as { session: Session }).session;
  const session = Object.create(real) as Session;
  session.prepareQuery = (...args) => {
    const prepared = real.prepareQuery(...args);
    const wrapped = Object.create(prepared) as Prepared;
    wrapped.execute = (...values) => around(() => prepared.execute(...values));
    return wrapped;
  };
  const db = Object.create(database.db) as typeof database.db;
  Object.defineProperty(db, "session", { value: session });
  db.transaction = ((run: Parameters<typeof database.db.transaction>[0]) =>
    around(() => database.db.transaction(run))) as typeof database.db.transaction;
  return db;
}

/** The test database, refusing connections (as PostgreSQL down would) while `down()`. */
function refusedWhile(down: () => boolean): typeof database.db {
  const refused = () =>
    Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
  return intercepted((run) => (down() ? refused() : run()));
}

function newBuffer(batchSize: number) {
  const written: number[] = [];
  const buffer = new AuditBuffer(database.db, pino({ level: "silent" }), {
    capacity: 1_000,
    flushMs: 3_600_000, // no timer flush during the test: every write is one an event started
    durableWaitMs: 30_000,
    shutdownFlushMs: 10_000,
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

  it("writes an event at once when no write is under way; those queued meanwhile go together next", async () => {
    const { buffer, written } = newBuffer(500);
    open.push(buffer);
    const [first] = enqueue(buffer, [draft()]); // starts a write of its own
    // Operations answered while that write is under way: one write after it, for all four.
    const later = enqueue(buffer, [draft(), draft(), draft(), draft()]);
    expect(await first).toBe(true);
    expect(await Promise.all(later)).toEqual([true, true, true, true]);
    expect(written).toEqual([1, 4]);
    expect(buffer.status()).toMatchObject({ pending: 0, reserved: 0, failing: false });
  });

  it("an event is stored by the time its push resolves true", async () => {
    const { buffer } = newBuffer(500);
    open.push(buffer);
    const events = [draft(), draft()];
    const stored = enqueue(buffer, events);
    await stored[0];
    expect(await storedIds([events[0]!])).toEqual(new Set([events[0]!.id]));
    await stored[1];
    expect(await storedIds(events)).toEqual(new Set(events.map((e) => e.id)));
  });

  it("writes in batches of batchSize", async () => {
    const { buffer, written } = newBuffer(4);
    open.push(buffer);
    const events = Array.from({ length: 11 }, () => draft());
    // The first starts a write of one; the ten queued meanwhile follow in batches of four.
    expect(await Promise.all(enqueue(buffer, events))).toEqual(events.map(() => true));
    expect(written).toEqual([1, 4, 4, 2]);
    expect(await storedIds(events)).toEqual(new Set(events.map((e) => e.id)));
  });

  it("while the database refuses, push resolves false in time; the kept event says the operation got a 503", async () => {
    // The real database behind a connection that is refused until `down` is cleared.
    let down = true;
    const refusing = refusedWhile(() => down);
    const written: number[] = [];
    const buffer = new AuditBuffer(refusing, pino({ level: "silent" }), {
      capacity: 1_000,
      flushMs: 20,
      durableWaitMs: 300,
      shutdownFlushMs: 10_000,
      batchSize: 500,
      onWritten: (rows) => written.push(rows.length),
    });
    open.push(buffer);
    const event = draft({ outcome: "SUCCESS", errorCodes: [] });
    const started = performance.now();
    expect(await enqueue(buffer, [event])[0]).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(buffer.status()).toMatchObject({ pending: 1, failing: true });
    expect((await storedIds([event])).size).toBe(0);

    down = false; // the retry (at most a second later) stores it, marked as answered 503
    for (let waited = 0; written.length === 0 && waited < 5_000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const [row] = await database.db
      .select()
      .from(auditEvents)
      .where(inArray(auditEvents.id, [event.id]));
    expect(row).toMatchObject({ outcome: "ERROR", errorCodes: ["SERVICE_UNAVAILABLE"] });
    expect(expectedHash(row!)).toBe(row!.hash);
    // And a new event is stored at once again.
    expect(await enqueue(buffer, [draft()])[0]).toBe(true);
  });

  it("close resolves false when queued events cannot be stored", async () => {
    const refusing = refusedWhile(() => true);
    const buffer = new AuditBuffer(refusing, pino({ level: "silent" }), {
      capacity: 1_000,
      flushMs: 20,
      durableWaitMs: 100,
      shutdownFlushMs: 500, // retried for half a second at close, then logged as not written
      onWritten: () => undefined,
    });
    const stored = enqueue(buffer, [draft()]);
    expect(await stored[0]).toBe(false);
    expect(await buffer.close()).toBe(false);
    expect(buffer.status().pending).toBe(0); // logged as not written, not kept

    const { buffer: healthy } = newBuffer(500);
    void enqueue(healthy, [draft()]);
    expect(await healthy.close()).toBe(true);
  });

  it("a batch no write has tried is appended without asking which events are stored", async () => {
    const { buffer, written } = newBuffer(500);
    open.push(buffer);
    const statements: string[] = [];
    const stop = database.observe((query) => statements.push(query));
    try {
      await Promise.all(enqueue(buffer, [draft(), draft()]));
    } finally {
      stop();
    }
    expect(written).toEqual([1, 1]);
    expect(statements.filter((q) => /^select .* from "audit_events"/i.test(q))).toEqual([]);
    expect(statements.filter((q) => /insert into "audit_events"/i.test(q))).toHaveLength(2);
  });

  it("a batch retried after a commit whose acknowledgement was lost stores each event once", async () => {
    // The real database behind a connection that drops the first commit's reply (here a single
    // event's append, a statement of its own): the event is stored, but the buffer sees a
    // failure and keeps it, and the events queued meanwhile, for a retry.
    let acknowledgementLost = false;
    const losing = intercepted(async (run) => {
      const result = await run();
      if (!acknowledgementLost) {
        acknowledgementLost = true;
        throw new Error("connection lost before the commit was acknowledged");
      }
      return result;
    });
    const written: number[] = [];
    const buffer = new AuditBuffer(losing, pino({ level: "silent" }), {
      capacity: 1_000,
      flushMs: 3_600_000,
      durableWaitMs: 30_000,
      shutdownFlushMs: 10_000,
      batchSize: 500,
      onWritten: (rows) => written.push(rows.length),
    });
    // The first event's write loses its acknowledgement; the two queued meanwhile wait.
    const events = [draft(), draft(), draft()];
    void enqueue(buffer, events);
    await buffer.flush();
    expect(buffer.status()).toMatchObject({ pending: 3, failing: true });
    expect(await storedIds(events)).toEqual(new Set([events[0]!.id]));

    await buffer.close(); // retries at once: finds the first stored, writes the other two
    expect(buffer.status()).toMatchObject({ pending: 0, reserved: 0, failing: false });
    expect(written).toEqual([2]);
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
    void enqueue(buffer, events);
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

  it("an event pushed as the write before it ends is written at once, not at the timer's next tick", async () => {
    const { buffer } = newBuffer(500); // the timer never ticks during the test
    open.push(buffer);
    for (let i = 0; i < 5; i++) {
      expect(await Promise.all(enqueue(buffer, [draft()]))).toEqual([true]);
      // the write that stored it is still finishing: this push comes in that very step
      const next = enqueue(buffer, [draft()]);
      const inTime = await Promise.race([
        Promise.all(next),
        new Promise((resolve) => setTimeout(() => resolve("waiting for the timer"), 2_000)),
      ]);
      expect(inTime).toEqual([true]);
    }
  });

  /** Every event of one organization's chain, checked: seq 1..n, each linked to the one before. */
  async function expectIntactChain(orgId: string, length: number) {
    const rows = await database.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.chainId, orgId))
      .orderBy(asc(auditEvents.seq));
    expect(rows.map((row) => row.seq)).toEqual(Array.from({ length }, (_, i) => i + 1));
    rows.forEach((row, i) => {
      expect(expectedHash(row)).toBe(row.hash);
      if (i > 0) expect(row.prevHash).toBe(rows[i - 1]!.hash);
    });
  }

  /** Starts a write of one event, and queues `batch` behind it: the next write takes it whole. */
  async function writeAsOneBatch(buffer: AuditBuffer, batch: AuditEventDraft[]) {
    const first = enqueue(buffer, [draft({ orgId: uuidv7() })]);
    const rest = enqueue(buffer, batch);
    expect(await Promise.all([...first, ...rest])).toEqual([true, ...batch.map(() => true)]);
  }

  it("a batch of chains whose heads it knows is one statement, without a transaction", async () => {
    const { buffer, written } = newBuffer(500);
    open.push(buffer);
    const [a, b] = [uuidv7(), uuidv7()];
    expect(await Promise.all(enqueue(buffer, [draft({ orgId: a })]))).toEqual([true]);
    expect(await Promise.all(enqueue(buffer, [draft({ orgId: b })]))).toEqual([true]);
    const seen: string[] = [];
    const stop = database.observe((query) => seen.push(query));
    await writeAsOneBatch(buffer, [
      draft({ orgId: a }),
      draft({ orgId: b }),
      draft({ orgId: a }),
      draft({ orgId: b }),
    ]);
    stop();
    expect(written.slice(-2)).toEqual([1, 4]);
    expect(seen).toHaveLength(2); // the first event's append, then the whole batch
    expect(seen.join("\n")).not.toMatch(/for update/);
    await expectIntactChain(a, 3);
    await expectIntactChain(b, 3);
  });

  it("never overwrites a head another writer moved: that chain's events are linked after it", async () => {
    const { buffer, written } = newBuffer(500);
    open.push(buffer);
    const [a, b] = [uuidv7(), uuidv7()];
    expect(await Promise.all(enqueue(buffer, [draft({ orgId: a })]))).toEqual([true]);
    expect(await Promise.all(enqueue(buffer, [draft({ orgId: b })]))).toEqual([true]);
    // another instance appends to chain a: the head this buffer remembers is stale now
    await appendEvent(database.db, draft({ orgId: a, operationName: "ElsewhereTest" }));
    const batch = [draft({ orgId: a }), draft({ orgId: b }), draft({ orgId: a })];
    await writeAsOneBatch(buffer, batch);
    expect(written.at(-1)).toBe(3);
    expect(await storedIds(batch)).toEqual(new Set(batch.map((event) => event.id)));
    await expectIntactChain(a, 4); // its first, the other writer's, then the batch's two
    await expectIntactChain(b, 2);
    // the head it learned from the locked append is right again: the next batch is one statement
    const seen: string[] = [];
    const stop = database.observe((query) => seen.push(query));
    await writeAsOneBatch(buffer, [draft({ orgId: a }), draft({ orgId: a })]);
    stop();
    expect(seen).toHaveLength(2);
    await expectIntactChain(a, 6);
  });

  it.skipIf(!usingPostgres())(
    "a batch that finds a head locked by another writer's transaction waits, then links after its event",
    async () => {
      const { buffer } = newBuffer(500);
      open.push(buffer);
      const a = uuidv7();
      expect(await Promise.all(enqueue(buffer, [draft({ orgId: a })]))).toEqual([true]);
      // Another instance's mutation appends to chain a and holds the head until it commits.
      let holding!: () => void;
      const held = new Promise<void>((resolve) => (holding = resolve));
      let commit!: () => void;
      const committing = new Promise<void>((resolve) => (commit = resolve));
      const other = database.db.transaction(async (tx) => {
        await appendEvent(tx, draft({ orgId: a, operationName: "ElsewhereTest" }));
        holding();
        await committing;
      });
      await held;
      const batch = [draft({ orgId: a }), draft({ orgId: a })];
      const first = enqueue(buffer, [draft({ orgId: uuidv7() })]);
      const rest = enqueue(buffer, batch);
      // the batch's compare-and-set is waiting for the head's lock: the interleaving is real
      await expect
        .poll(
          async () => {
            const [row] = await rawRows<{ waiting: number }>(
              database.db,
              sql`select count(*)::int as waiting from pg_stat_activity
              where wait_event_type = 'Lock' and query like '%from_seq%'`,
            );
            return row!.waiting;
          },
          { timeout: 5_000 },
        )
        .toBeGreaterThanOrEqual(1);
      commit();
      await other;
      expect(await Promise.all([...first, ...rest])).toEqual([true, true, true]);
      await expectIntactChain(a, 4); // its first, the other writer's, then the batch's two
    },
  );
});
