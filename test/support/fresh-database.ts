import { randomBytes } from "node:crypto";
import type { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import { newPglite, usingPostgres } from "./server.js";

/**
 * A database of its own for tests that must see every row (a full scan, a rotation of every
 * value): a new in-memory PGlite, or a new database on the PostgreSQL server of DATABASE_URL.
 */
export interface FreshDatabase {
  /** Settings and dependencies for startServer(env, deps) to use this database. */
  env: Record<string, string>;
  pglite: PGlite | undefined;
  drop(): Promise<void>;
}

export async function freshDatabase(): Promise<FreshDatabase> {
  if (!usingPostgres()) {
    const pglite = await newPglite();
    return { env: {}, pglite, drop: () => pglite.close() };
  }
  const name = `test_${randomBytes(6).toString("hex")}`;
  const admin = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
  await admin`create database ${admin(name)}`;
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${name}`;
  return {
    env: { DATABASE_URL: url.toString() },
    pglite: undefined,
    drop: async () => {
      await admin`drop database if exists ${admin(name)} with (force)`;
      await admin.end({ timeout: 5 });
    },
  };
}

export { rawRows } from "../../src/db/raw-rows.js";
