/** The SQLSTATE of a failed statement (PostgreSQL's, through postgres-js, PGlite or Drizzle). */
export function sqlStateOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === "object"; depth++) {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
    current = cause;
  }
  return undefined;
}

/**
 * Classes of errors caused by the values a statement was given (data exceptions, integrity
 * constraints, program limits, errors raised by a trigger): the same row fails again, other rows
 * do not. Anything else (no connection, a timeout, a busy server) is the database's state.
 */
const DATA_ERROR_CLASSES = new Set(["22", "23", "54", "P0"]);

export const isDataError = (error: unknown): boolean =>
  DATA_ERROR_CLASSES.has(sqlStateOf(error)?.slice(0, 2) ?? "");
