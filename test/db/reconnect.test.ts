import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { type DatabaseHandle, openDatabase } from "../../src/db/client.js";
import { usingPostgres } from "../support/server.js";

/*
 * PostgreSQL only. postgres-js loads the server's array types once per pool, on the first query
 * that needs them (3.x loaded them at every connect, without a catch: a reset during it was an
 * unhandled rejection, which ends the process). What this shows is that connections opened after
 * the server killed the first ones still read arrays exactly (a lost parser would return the
 * array as its text form).
 */
describe.skipIf(!usingPostgres())("reconnecting to PostgreSQL", () => {
  const application = `reconnect-${randomBytes(4).toString("hex")}`;
  const url = new URL(process.env.DATABASE_URL ?? "postgres://unused");
  url.searchParams.set("application_name", application);
  const admin = postgres(process.env.DATABASE_URL ?? "", { max: 1, onnotice: () => {} });
  let database: DatabaseHandle | undefined;
  afterAll(async () => {
    await database?.close();
    await admin.end();
  });

  it("reads arrays exactly on connections opened after the server killed the first ones", async () => {
    database = await openDatabase({
      databaseUrl: url.toString(),
      dataDir: "unused",
      statementTimeoutMs: 5_000,
    });
    const tricky = ['quote " backslash \\ comma, {brace}', "NULL", "", "ünïcødé 🔐"];
    const readArray = async () => {
      const result: unknown = await database!.db.execute(
        sql`select array(select jsonb_array_elements_text(${JSON.stringify(tricky)}::jsonb)) as a`,
      );
      return (result as { a: unknown }[])[0]!.a;
    };
    expect(await readArray()).toEqual(tricky);

    const killed = await admin`select pg_terminate_backend(pid) from pg_stat_activity
      where application_name = ${application}`;
    expect(killed.length).toBeGreaterThan(0);

    // The first attempt may meet the killed connection; the pool opens a new one.
    let value: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        value = await readArray();
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    expect(value).toEqual(tricky);
    const reopened = await admin`select count(*)::int as n from pg_stat_activity
      where application_name = ${application}`;
    expect(reopened[0]!.n).toBeGreaterThan(0);
  });
});
