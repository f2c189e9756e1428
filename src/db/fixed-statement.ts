import type { SQL } from "drizzle-orm";
import { PgDialect, type PgSession } from "drizzle-orm/pg-core";
import type { Database } from "./client.js";
import { rowsOf } from "./raw-rows.js";

/**
 * A raw statement whose text is built once, at start-up, with `sql.placeholder(name)` where each
 * call's values go: a call only binds them. Drizzle builds `db.execute(sql\`...\`)` anew on every
 * call, walking every chunk of the template (the audit append's 23 columns cost about 5% of a
 * createCustomer's CPU that way). Runs on any Database, a transaction's included, on either
 * driver; resolves to the statement's rows.
 */
export function fixedStatement<Row = Record<string, unknown>>(query: SQL) {
  const built = new PgDialect().sqlToQuery(query);
  return async (db: Database, values: Record<string, unknown>): Promise<Row[]> => {
    const session = (db as unknown as { session: PgSession }).session;
    return rowsOf<Row>(
      await session.prepareQuery(built, undefined, undefined, false).execute(values),
    );
  };
}
