import type { SQL } from "drizzle-orm";
import type { Database } from "./client.js";

/** Rows of a raw SQL statement on either driver (PGlite returns { rows }, postgres-js an array). */
export async function rawRows<T = Record<string, unknown>>(db: Database, query: SQL): Promise<T[]> {
  const result: unknown = await db.execute(query);
  return (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as T[];
}
