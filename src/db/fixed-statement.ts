import { Column, type DriverValueDecoder, getTableColumns, is, SQL, sql } from "drizzle-orm";
import { PgDialect, type PgSession, type PgTable } from "drizzle-orm/pg-core";
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

type Decoded = readonly (readonly [string, DriverValueDecoder<unknown, unknown>])[];

/** Rows as arrays (in the order of `fields`) to objects keyed by field, each value decoded. */
function rowMapper<Row>(fields: Decoded) {
  const mapRow = (values: unknown[]): Row => {
    const row: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) {
      const [key, decoder] = fields[i]!;
      const value = values[i];
      row[key] = value === null || value === undefined ? null : decoder.mapFromDriverValue(value);
    }
    return row as Row;
  };
  return (rows: unknown[][]) => rows.map(mapRow);
}

/** A select built with drizzle's standalone QueryBuilder, of columns and aliased expressions. */
interface ColumnSelect<Row> {
  getSQL(): SQL;
  readonly _: { readonly selectedFields: unknown; readonly result: Row[] };
}

/**
 * A select of columns (`new QueryBuilder().select(...).from(...)...`, placeholders where each
 * call's values go) built once, like fixedStatement, whose rows come back as Drizzle's would:
 * keyed by field, each value decoded by its column (or the expression's decoder). Drizzle
 * rebuilds a select's SQL on every execution and maps each row generically; on a page of
 * customers that was about 8% of the CPU.
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
  return runBuilt<Row>(dialect.sqlToQuery(select.getSQL()), rowMapper<Row>(fields));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Row ids as one uuid[] parameter (`= any($ids::uuid[])`): an array literal, which either driver
 * binds as text. A string that is not a UUID cannot name a row, so it is left out rather than
 * quoted (the callers' ids are UUIDs already: from rows, or checked global ids).
 */
export const uuidArray = (ids: readonly string[]): string =>
  `{${ids.filter((id) => UUID.test(id)).join(",")}}`;

/**
 * An INSERT of one row of `table` setting the columns `keys` (the others take their defaults),
 * returning the row as Drizzle's `.insert().values().returning()` would, built once like
 * fixedStatement: Drizzle builds an insert anew on every call, about 10% of a createCustomer's
 * CPU. A key whose value is undefined inserts NULL.
 */
export function fixedInsert<T extends PgTable>(
  table: T,
  keys: readonly (keyof T["$inferInsert"] & string)[],
) {
  const columns = getTableColumns(table) as Record<string, Column>;
  const set = keys.map((key) => [key, columns[key]!] as const);
  const all = Object.entries(columns);
  const run = runBuilt<T["$inferSelect"]>(
    dialect.sqlToQuery(sql`insert into ${table}
      (${sql.join(
        set.map(([, column]) => sql.identifier(column.name)),
        sql`, `,
      )})
      values (${sql.join(
        set.map(([key]) => sql.placeholder(key)),
        sql`, `,
      )})
      returning ${sql.join(
        all.map(([, column]) => sql.identifier(column.name)),
        sql`, `,
      )}`),
    rowMapper(all),
  );
  return (db: Database, row: Partial<T["$inferInsert"]>) => {
    const values: Record<string, unknown> = {};
    for (const [key, column] of set) {
      const value = (row as Record<string, unknown>)[key];
      values[key] = value === null || value === undefined ? null : column.mapToDriverValue(value);
    }
    return run(db, values);
  };
}
