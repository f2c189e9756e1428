import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";

/**
 * The bare server's database access: parameterized statements, nothing else. On PostgreSQL a
 * postgres-js pool with its defaults (10 connections, as the full server's DATABASE_POOL_SIZE)
 * and every statement prepared; on PGlite (no DATABASE_URL) the embedded database's own
 * query(), the only way in-process: postgres-js speaks the wire protocol, which PGlite does not
 * serve without a socket server.
 */
export interface BareSql {
  rows<T>(text: string, params: readonly unknown[]): Promise<T[]>;
  readonly driver: "postgres" | "pglite";
  /** Statements sent since start (the bench's SQL/op). */
  readonly statements: number;
  close(): Promise<void>;
}

export function openPostgres(url: string): BareSql {
  const client = postgres(url, { onnotice: () => {} });
  let statements = 0;
  return {
    driver: "postgres",
    get statements() {
      return statements;
    },
    rows: async <T>(text: string, params: readonly unknown[]) => {
      statements++;
      // eslint-disable-next-line no-restricted-syntax -- constant statements, values bound as parameters
      const result = await client.unsafe(text, params as postgres.ParameterOrJSON<never>[], {
        prepare: true,
      });
      return result as unknown as T[];
    },
    close: () => client.end({ timeout: 5 }),
  };
}

/** The PGlite data directory bench/seed-host.ts migrated and seeded (as the app lays it out). */
export async function openPglite(dataDir: string): Promise<BareSql> {
  const client = new PGlite(join(dataDir, "pglite"));
  await client.waitReady;
  let statements = 0;
  return {
    driver: "pglite",
    get statements() {
      return statements;
    },
    rows: async <T>(text: string, params: readonly unknown[]) => {
      statements++;
      return (await client.query<T>(text, [...params])).rows;
    },
    close: () => client.close(),
  };
}
