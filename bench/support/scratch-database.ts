import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";

/**
 * Where a benchmark keeps its data, never the developer's: a new database on the PostgreSQL
 * server of DATABASE_URL (dropped afterwards), else a temporary PGlite data directory (removed).
 */
export interface ScratchDatabase {
  /** DATABASE_URL or DATA_DIR for the server under test. */
  env: Record<string, string>;
  description: string;
  drop(): Promise<void>;
}

export async function scratchDatabase(databaseUrl: string | undefined): Promise<ScratchDatabase> {
  if (!databaseUrl) {
    const dataDir = mkdtempSync(join(tmpdir(), "bench-pglite-"));
    return {
      env: { DATA_DIR: dataDir },
      description: `embedded PGlite in ${dataDir} (temporary)`,
      drop: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
    };
  }
  const name = `bench_${randomBytes(6).toString("hex")}`;
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  await admin`create database ${admin(name)}`;
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  return {
    env: { DATABASE_URL: url.toString() },
    description: `PostgreSQL, scratch database ${name} on ${url.host} (dropped afterwards)`,
    drop: async () => {
      await admin`drop database if exists ${admin(name)} with (force)`;
      await admin.end({ timeout: 5 });
    },
  };
}
