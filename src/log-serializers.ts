/**
 * The request as it appears in the logs: method, path and client address. Never the query
 * string (a GET /graphql carries the operation's variables there: emails, names, tokens) and
 * never headers (Authorization).
 */
export function serializeRequest(request: { method?: string; url?: string; ip?: string }) {
  return {
    method: request.method,
    path: request.url?.split("?", 1)[0],
    remoteAddress: request.ip,
  };
}

/** SQLSTATE classes whose messages and details can quote a value: data exceptions, constraints. */
const VALUE_QUOTING_CLASSES = new Set(["22", "23"]);

interface LoggedError {
  type: string;
  message?: string;
  /** A failed statement's text, with its $n placeholders: never its parameters. */
  statement?: string;
  code?: string;
  severity?: string;
  routine?: string;
  table?: string;
  column?: string;
  constraint?: string;
  stack?: string;
  cause?: LoggedError | undefined;
}

const stringOf = (value: unknown): string | undefined =>
  typeof value === "string" ? value : undefined;

/**
 * An error as the logs may hold it. A failed SQL statement is logged by its shape and the
 * database's code, never by its parameters (a bcrypt hash, a ciphertext, a blind index): Drizzle
 * puts them in its error's message (and so its stack), postgres-js on the error, and
 * PostgreSQL's message and detail quote values for data and constraint errors. Any other error
 * keeps its message and stack (it is a bug to find), with its cause made safe the same way.
 */
export function serializeError(error: unknown, depth = 0): LoggedError | undefined {
  if (error === undefined || error === null) return undefined;
  if (typeof error !== "object") return { type: typeof error };
  const e = error as Record<string, unknown> & { name?: unknown; message?: unknown };
  // the class's name: some (Drizzle's) leave `name` as "Error"
  const type =
    error.constructor.name !== "Error" ? error.constructor.name : (stringOf(e.name) ?? "Error");
  const cause = depth < 5 ? serializeError(e.cause, depth + 1) : undefined;
  const statement = stringOf(e.query);
  if (statement !== undefined && "params" in e) {
    return { type, statement, ...(cause && { cause }) }; // Drizzle: its message holds the params
  }
  const code = stringOf(e.code);
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code) && "severity" in e) {
    // PostgreSQL's own error (postgres-js, PGlite): only the fields that name, never quote
    return {
      type,
      code,
      ...(!VALUE_QUOTING_CLASSES.has(code.slice(0, 2)) && { message: stringOf(e.message) }),
      severity: stringOf(e.severity),
      routine: stringOf(e.routine),
      table: stringOf(e.table_name ?? e.table),
      column: stringOf(e.column_name ?? e.column),
      constraint: stringOf(e.constraint_name ?? e.constraint),
      ...(statement !== undefined && { statement }),
    };
  }
  return {
    type,
    message: stringOf(e.message),
    ...(code !== undefined && { code }),
    stack: stringOf(e.stack),
    ...(cause && { cause }),
  };
}
