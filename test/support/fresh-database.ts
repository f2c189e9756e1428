import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import { openDatabase } from "../../src/db/client.js";
import { usingPostgres } from "./server.js";

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

let emptyPglite: Promise<PGlite> | undefined;

/**
 * A new, empty in-memory PGlite: a copy of one the worker made empty, since a copy takes about
 * a fifth of the time PGlite takes to create a database.
 */
export async function newPglite(): Promise<PGlite> {
  emptyPglite ??= PGlite.create();
  return (await (await emptyPglite).clone()) as PGlite;
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

let emptyEmbeddedDir: Promise<string> | undefined;

/**
 * Puts a migrated, empty embedded database (PGlite on disk) under `dataDir`, as a server or an
 * operator command opens it: a copy of one made once per worker (a quarter of the time).
 */
export async function copyEmptyEmbeddedDatabase(dataDir: string): Promise<void> {
  emptyEmbeddedDir ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "empty-embedded-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    const database = await openDatabase({ dataDir: dir, statementTimeoutMs: 5_000 });
    await database.close();
    return dir;
  })();
  cpSync(join(await emptyEmbeddedDir, "pglite"), join(dataDir, "pglite"), { recursive: true });
}

export { rawRows } from "../../src/db/raw-rows.js";
