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
import { withTimeout } from "../timeout.js";
import { databaseUnavailableCause, type UnavailableCause } from "./availability.js";
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
  /**
   * Listens on a notification channel until close(): `onNotify` gets each payload, `onListening`
   * whether notifications are heard (false while the listening connection is lost; true again
   * once it listens anew, when those sent meanwhile are gone).
   */
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onListening: (listening: boolean) => void,
  ): void;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  statementTimeoutMs: number;
  /** Connections of the server's PostgreSQL pool (DATABASE_POOL_SIZE); PGlite has one. */
  poolSize?: number;
  connection?: Partial<ConnectionSettings>;
  /** Told of each failed attempt to reach PostgreSQL at start, before the next one. */
  onStartRetry?: (attempt: StartRetry) => void;
  /** An already-open PGlite to share (tests share one per worker; it takes seconds to start). */
  pglite?: PGlite;
}

/** How the PostgreSQL pool opens, keeps and gives up connections. */
export interface ConnectionSettings {
  /** An idle connection is closed after this long; 0 keeps it. */
  idleTimeoutSeconds: number;
  /** A connection attempt taking longer fails. */
  connectTimeoutSeconds: number;
  /** A start that cannot reach the database retries this long, then fails with the cause. */
  startTimeoutSeconds: number;
}

export interface StartRetry {
  attempt: number;
  retryInMs: number;
  cause: UnavailableCause;
}

const DEFAULT_CONNECTION: ConnectionSettings = {
  idleTimeoutSeconds: 60,
  connectTimeoutSeconds: 5,
  startTimeoutSeconds: 0,
};

/**
 * Seconds before the pool tries to connect again after `retries` failed attempts: from 50 ms,
 * doubling, never more than a second (postgres-js's own grows to 20 s, and fails every request
 * in between), so the first request after the database is back finds it.
 */
const reconnectBackoff = (retries: number): number =>
  Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2);

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
  return options.databaseUrl ? openPostgres(options.databaseUrl, options) : openPglite(options);
}

/**
 * Applies the migrations, on one connection under an advisory lock: several instances (or test
 * workers) may start at once, and exactly one of them applies each migration.
 */
async function migrate(url: string, connectTimeoutSeconds: number): Promise<void> {
  const migrator = postgres(url, {
    max: 1,
    onnotice: () => {},
    connect_timeout: connectTimeoutSeconds,
  });
  try {
    await migrator`select pg_advisory_lock(${MIGRATIONS_LOCK_ID})`;
    await migratePostgres(drizzlePostgres({ client: migrator }), { migrationsFolder });
  } finally {
    await migrator.end({ timeout: 5 });
  }
}

/**
 * Migrates, retrying while the database cannot be reached (it may be starting beside this
 * instance) until `startTimeoutSeconds` have passed; any other failure ends the start at once.
 */
async function migrateWhenReachable(
  url: string,
  settings: ConnectionSettings,
  onRetry: DatabaseOptions["onStartRetry"],
): Promise<void> {
  const deadline = Date.now() + settings.startTimeoutSeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      await migrate(url, settings.connectTimeoutSeconds);
      return;
    } catch (error) {
      const cause = databaseUnavailableCause(error);
      const retryInMs = Math.min(500 * 2 ** (attempt - 1), 5_000);
      if (!cause || Date.now() + retryInMs > deadline) throw error;
      onRetry?.({ attempt, retryInMs, cause });
      await new Promise((resolve) => setTimeout(resolve, retryInMs));
    }
  }
}

/**
 * The client with every statement Drizzle sends made a prepared one. Drizzle sends a statement
 * unnamed unless it was built with .prepare(name), so PostgreSQL parsed and planned it anew each
 * time and postgres-js read its description again: 280 µs of the server's CPU for a principal
 * lookup, 85 µs prepared (docs/performance.md). postgres-js keeps each connection's prepared
 * statements by their text; Drizzle's texts are fixed but for the length of IN lists, which
 * DataLoader batches bound (at most a page, 100).
 */
function preparingStatements<T extends object>(client: T): T {
  const wrap = (key: PropertyKey, call: (...args: unknown[]) => unknown) => {
    if (key === "unsafe") {
      return (query: string, params?: unknown[], options?: object) =>
        call.call(client, query, params, { ...options, prepare: true });
    }
    if (key === "begin" || key === "savepoint") {
      // the transaction's own client, for the statements inside it
      return (...args: unknown[]) => {
        const run = args.pop() as (tx: object) => unknown;
        return call.call(client, ...args, (tx: object) => run(preparingStatements(tx)));
      };
    }
    return call.bind(client);
  };
  // made once per method, not on every statement
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(client, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      if (!wrapped.has(key)) wrapped.set(key, wrap(key, value as (...args: unknown[]) => unknown));
      return wrapped.get(key);
    },
  });
}

/**
 * How often the listening connection is asked for a round trip, and how long it may take: a
 * connection that died without closing (a NAT or firewall dropping it, a stuck proxy) is noticed
 * within the sum, and notifications are not trusted meanwhile.
 */
const LISTENER_HEARTBEAT_MS = 1_000;
const LISTENER_TIMEOUT_MS = 1_000;

/**
 * A connection of its own that listens on `channel`, with a round trip every second to prove it
 * still does; when it is lost, closed or silent, it is dropped and a new one listens (with the
 * pool's backoff). Closed by the returned function.
 */
function listenOnPostgres(
  url: string,
  settings: ConnectionSettings,
  channel: string,
  onNotify: (payload: string) => void,
  onListening: (listening: boolean) => void,
): () => Promise<void> {
  let closed = false;
  let current: PostgresClient | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  let attempts = 0;

  const lost = (client: PostgresClient) => {
    if (closed || current !== client) return;
    current = undefined;
    clearInterval(heartbeat);
    onListening(false);
    void client.end({ timeout: 0 });
    retry = setTimeout(() => void listen(), reconnectBackoff(attempts++) * 1000);
    retry.unref();
  };

  async function listen() {
    const client = postgres(url, {
      max: 1,
      idle_timeout: null,
      max_lifetime: null,
      connect_timeout: settings.connectTimeoutSeconds,
      onnotice: () => {},
      onnotify: (name, payload) => {
        if (name === channel && current === client) onNotify(payload);
      },
      onclose: () => lost(client),
      connection: { application_name: "customer-records-api listener" },
    });
    current = client;
    try {
      await withTimeout(client`listen ${client(channel)}`, LISTENER_TIMEOUT_MS, "listen");
    } catch {
      lost(client);
      return;
    }
    if (closed || current !== client) return;
    attempts = 0;
    onListening(true);
    heartbeat = setInterval(() => {
      withTimeout(client`select 1`, LISTENER_TIMEOUT_MS, "listener round trip").catch(() =>
        lost(client),
      );
    }, LISTENER_HEARTBEAT_MS);
    heartbeat.unref();
  }

  void listen();
  return async () => {
    closed = true;
    clearTimeout(retry);
    clearInterval(heartbeat);
    await current?.end({ timeout: 1 });
  };
}

async function openPostgres(url: string, options: DatabaseOptions): Promise<DatabaseHandle> {
  const settings = { ...DEFAULT_CONNECTION, ...options.connection };
  await migrateWhenReachable(url, settings, options.onStartRetry);
  const client = postgres(url, {
    ...(options.poolSize === undefined ? {} : { max: options.poolSize }),
    idle_timeout: settings.idleTimeoutSeconds || null,
    connect_timeout: settings.connectTimeoutSeconds,
    backoff: reconnectBackoff,
    onnotice: () => {},
    connection: {
      statement_timeout: options.statementTimeoutMs,
      application_name: "customer-records-api",
    },
  });
  const { stats, logger, observe } = statementCounter();
  const preparing = preparingStatements(client);
  const db = drizzlePostgres({ client: preparing, schema, logger }) as unknown as Database;
  const listeners: (() => Promise<void>)[] = [];
  return {
    db,
    throttled: (slot) => throttledDatabase(db, preparing, slot),
    driver: "postgres",
    stats,
    observe,
    listen: (channel, onNotify, onListening) =>
      void listeners.push(listenOnPostgres(url, settings, channel, onNotify, onListening)),
    ping: async () => void (await client`select 1`),
    close: async () => {
      await Promise.all(listeners.map((stop) => stop()));
      await client.end({ timeout: 5 });
    },
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
  const listeners: Promise<() => Promise<void>>[] = [];
  return {
    db,
    throttled: () => db,
    driver: "pglite",
    stats,
    observe,
    // in process: notifications cannot be lost, so it listens from the start to the close
    listen: (channel, onNotify, onListening) => {
      const listening = pglite.listen(channel, onNotify);
      listeners.push(listening);
      void listening.then(
        () => onListening(true),
        () => onListening(false),
      );
    },
    ping: async () => void (await pglite.query("select 1")),
    close: async () => {
      for (const unlisten of await Promise.all(listeners)) await unlisten();
      if (!shared) await pglite.close();
    },
  };
}
