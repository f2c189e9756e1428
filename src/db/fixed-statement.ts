import { Column, type DriverValueDecoder, is, SQL } from "drizzle-orm";
import { PgDialect, type PgSession } from "drizzle-orm/pg-core";
import type { Database } from "./client.js";
import { rowsOf } from "./raw-rows.js";

const dialect = new PgDialect();

function runBuilt<T>(
  built: ReturnType<PgDialect["sqlToQuery"]>,
  mapRows?: (rows: unknown[][]) => T[],
) {
  return async (db: Database, values: Record<string, unknown>): Promise<T[]> => {
    const session = (db as unknown as { session: PgSession }).session;
    const query = session.prepareQuery(built, undefined, undefined, mapRows !== undefined, mapRows);
    return mapRows
      ? ((await query.execute(values)) as T[])
      : rowsOf<T>(await query.execute(values));
  };
}

/**
 * A raw statement whose text is built once, at start-up, with `sql.placeholder(name)` where each
 * call's values go: a call only binds them. Drizzle builds `db.execute(sql\`...\`)` anew on every
 * call, walking every chunk of the template (the audit append's 23 columns cost about 5% of a
 * createCustomer's CPU that way). Runs on any Database, a transaction's included, on either
 * driver; resolves to the statement's rows.
 */
export function fixedStatement<Row = Record<string, unknown>>(query: SQL) {
  return runBuilt<Row>(dialect.sqlToQuery(query));
}

/** A select built with drizzle's standalone QueryBuilder, of columns and aliased expressions. */
interface ColumnSelect<Row> {
  getSQL(): SQL;
  readonly _: { readonly selectedFields: unknown; readonly result: Row[] };
}

/**
 * A select of columns (`new QueryBuilder().select(...).from(...)...`, placeholders where each
 * call's values go) built once, like fixedStatement, whose rows come back as Drizzle's would:
 * keyed by field, each value decoded by its column (or the expression's decoder). Drizzle rebuilds a select's SQL on every
 * execution and maps each row generically; on a page of customers that was about 8% of the CPU.
 */
export function fixedSelect<Row>(select: ColumnSelect<Row>) {
  const fields = Object.entries(select._.selectedFields as Record<string, unknown>).map(
    ([key, field]) => {
      if (is(field, Column)) return [key, field] as const;
      if (is(field, SQL.Aliased)) {
        // the decoder .mapWith() sets (drizzle's own row mapper reads it the same way)
        const { decoder } = field.sql as unknown as {
          decoder: DriverValueDecoder<unknown, unknown>;
        };
        return [key, decoder] as const;
      }
      throw new Error(`fixedSelect: field "${key}" is neither a column nor an aliased expression`);
    },
  );
  const mapRow = (values: unknown[]): Row => {
    const row: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) {
      const [key, decoder] = fields[i]!;
      const value = values[i];
      row[key] = value === null || value === undefined ? null : decoder.mapFromDriverValue(value);
    }
    return row as Row;
  };
  return runBuilt<Row>(dialect.sqlToQuery(select.getSQL()), (rows) => rows.map(mapRow));
}

/**
 * Row ids as one uuid[] parameter (`= any($ids::uuid[])`): an array literal, which either driver
 * binds as text. Only for ids already known to be UUIDs, which hold no character to quote.
 */
export const uuidArray = (ids: readonly string[]): string => `{${ids.join(",")}}`;
