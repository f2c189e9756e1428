import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import type { Logger as DrizzleLogger } from "drizzle-orm";
import { PgDatabase, type PgDialect, type PgQueryResultHKT } from "drizzle-orm/pg-core";
import { PostgresJsSession } from "drizzle-orm/postgres-js/session";
import type { RelationalSchemaConfig, TablesRelationalConfig } from "drizzle-orm/relations";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { rateLimited } from "../graphql/errors.js";
import { projectPath } from "../paths.js";
import * as schema from "./schema.js";

export type Schema = typeof schema;
/** A database handle or an open transaction: both run the same query builder. */
export type Database = PgDatabase<PgQueryResultHKT, Schema>;

/** Takes one of a tenant's statement slots; undefined when none came free in time. */
export type StatementSlot = () => Promise<(() => void) | undefined>;

export interface DatabaseHandle {
  db: Database;
  /**
   * The database as one tenant's operation sees it: each statement (and each transaction, for
   * as long as it lasts) first takes one of the tenant's slots of the pool, so that no tenant
   * holds every connection while others wait. PGlite, one connection that runs one statement at
   * a time, is shared as it is.
   */
  throttled(slot: StatementSlot): Database;
  driver: "postgres" | "pglite";
  /** Count of SQL statements sent since start; tests and benchmarks read differences of it. */
  stats: { statements: number };
  /** Calls `listener` with every statement sent (and its parameters) until the returned stop. */
  observe(listener: QueryListener): () => void;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  statementTimeoutMs: number;
  /** Connections of the server's PostgreSQL pool (DATABASE_POOL_SIZE); PGlite has one. */
  poolSize?: number;
  /** An already-open PGlite to share (tests share one per worker; it takes seconds to start). */
  pglite?: PGlite;
}

const MIGRATIONS_LOCK_ID = 7_201_311;
const migrationsFolder = projectPath("drizzle");

export type QueryListener = (query: string, params: unknown[]) => void;

function statementCounter() {
  const stats = { statements: 0 };
  const listeners = new Set<QueryListener>();
  const logger: DrizzleLogger = {
    logQuery: (query, params) => {
      stats.statements++;
      for (const listener of listeners) listener(query, params);
    },
  };
  const observe = (listener: QueryListener) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  return { stats, logger, observe };
}

type PostgresClient = ReturnType<typeof postgres>;
type RelationalConfig = RelationalSchemaConfig<TablesRelationalConfig>;

/** What Drizzle's postgres-js session calls on its client. */
interface SessionClient {
  options: PostgresClient["options"];
  unsafe(...args: Parameters<PostgresClient["unsafe"]>): PromiseLike<unknown> & {
    values(): PromiseLike<unknown>;
  };
  begin: PostgresClient["begin"];
}

/**
 * `db` over a client that takes a slot before each statement and transaction: a Drizzle
 * database of its own (about 2 µs to make) sharing `db`'s dialect, schema and logger. Statements
 * inside a transaction run on its connection, already held, and are not counted again.
 */
function throttledDatabase(db: Database, client: PostgresClient, slot: StatementSlot): Database {
  const withSlot = async <T>(work: () => PromiseLike<T>): Promise<T> => {
    const release = await slot();
    if (!release) {
      throw rateLimited(
        1,
        "Too many database statements at once for this organization; retry later",
      );
    }
    try {
      return await work();
    } finally {
      release();
    }
  };
  const gated: SessionClient = {
    options: client.options,
    // Drizzle's own statements, already parameterized: passed on, never built here.
    unsafe: (...args) => ({
      // eslint-disable-next-line no-restricted-syntax -- Drizzle's statement and its bound values
      then: (resolve, reject) => withSlot(() => client.unsafe(...args)).then(resolve, reject),
      // eslint-disable-next-line no-restricted-syntax -- Drizzle's statement and its bound values
      values: () => withSlot(() => client.unsafe(...args).values()),
    }),
    begin: ((...args: Parameters<PostgresClient["begin"]>) =>
      withSlot(() => client.begin(...args))) as PostgresClient["begin"],
  };
  const internals = db as unknown as { dialect: PgDialect; session: { logger: DrizzleLogger } };
  const config = (db as unknown as { _: RelationalConfig })._;
  const session = new PostgresJsSession(
    gated as unknown as PostgresClient,
    internals.dialect,
    config,
    {
      logger: internals.session.logger,
    },
  );
  return new PgDatabase(internals.dialect, session, config) as unknown as Database;
}

/** The database of the server's configuration, for an operator command run with its settings. */
export const openConfiguredDatabase = (config: {
  databaseUrl: string | undefined;
  dataDir: string;
  limits: { statementTimeoutMs: number };
}): Promise<DatabaseHandle> =>
  openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    statementTimeoutMs: config.limits.statementTimeoutMs,
  });

/** Opens PostgreSQL when a URL is given, else the embedded PGlite under dataDir; migrates either. */
export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  return options.databaseUrl
    ? openPostgres(options.databaseUrl, options.statementTimeoutMs, options.poolSize)
    : openPglite(options);
}

async function openPostgres(
  url: string,
  statementTimeoutMs: number,
  poolSize: number | undefined,
): Promise<DatabaseHandle> {
  const client = postgres(url, {
    ...(poolSize === undefined ? {} : { max: poolSize }),
    onnotice: () => {},
    connection: { statement_timeout: statementTimeoutMs, application_name: "customer-records-api" },
  });
  const { stats, logger, observe } = statementCounter();
  // Several instances (or test workers) may start at once: migrate on one connection under an
  // advisory lock, so exactly one of them applies each migration.
  const migrator = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await migrator`select pg_advisory_lock(${MIGRATIONS_LOCK_ID})`;
    await migratePostgres(drizzlePostgres({ client: migrator }), { migrationsFolder });
  } finally {
    await migrator.end({ timeout: 5 });
  }
  const db = drizzlePostgres({ client, schema, logger }) as unknown as Database;
  return {
    db,
    throttled: (slot) => throttledDatabase(db, client, slot),
    driver: "postgres",
    stats,
    observe,
    ping: async () => void (await client`select 1`),
    close: () => client.end({ timeout: 5 }),
  };
}

async function openPglite(options: DatabaseOptions): Promise<DatabaseHandle> {
  const shared = options.pglite;
  let client = shared;
  if (!client) {
    const dir = join(options.dataDir, "pglite");
    mkdirSync(dir, { recursive: true });
    client = new PGlite(dir);
  }
  await client.query("select set_config('statement_timeout', $1, false)", [
    String(options.statementTimeoutMs),
  ]);
  await migratePglite(drizzlePglite({ client }), { migrationsFolder });
  const { stats, logger, observe } = statementCounter();
  const db = drizzlePglite({ client, schema, logger }) as unknown as Database;
  const pglite = client;
  return {
    db,
    throttled: () => db,
    driver: "pglite",
    stats,
    observe,
    ping: async () => void (await pglite.query("select 1")),
    close: async () => {
      if (!shared) await pglite.close();
    },
  };
}
