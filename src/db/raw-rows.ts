import type { SQL } from "drizzle-orm";
import type { Database } from "./client.js";

/** The rows of a raw statement's result on either driver (PGlite's { rows }, postgres-js's array). */
export const rowsOf = <T>(result: unknown): T[] =>
  (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as T[];

/** Rows of a raw SQL statement on either driver. */
export async function rawRows<T = Record<string, unknown>>(db: Database, query: SQL): Promise<T[]> {
  return rowsOf<T>(await db.execute(query));
}
