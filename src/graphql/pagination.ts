import { badUserInput } from "./errors.js";

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export interface Page {
  limit: number;
  /** Row id after which the page starts (keyset pagination on time-ordered UUIDv7 ids). */
  afterId: string | undefined;
}

const CURSOR_PREFIX = "c1:";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const encodeCursor = (rowId: string): string =>
  Buffer.from(CURSOR_PREFIX + rowId, "utf8").toString("base64url");

/** Validates `first` (1 to 100) and decodes `after`; bad values are BAD_USER_INPUT naming the argument. */
export function parsePage(
  first: number | null | undefined,
  after: string | null | undefined,
): Page {
  const limit = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw badUserInput("first", `first must be between 1 and ${MAX_PAGE_SIZE}`);
  }
  if (after == null) return { limit, afterId: undefined };
  const decoded = after.length <= 100 ? Buffer.from(after, "base64url").toString("utf8") : "";
  const rowId = decoded.startsWith(CURSOR_PREFIX) ? decoded.slice(CURSOR_PREFIX.length) : "";
  if (!UUID.test(rowId)) throw badUserInput("after", "after is not a valid cursor");
  return { limit, afterId: rowId };
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  nodes: T[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  /** Called only when totalCount is selected. */
  countTotal: () => Promise<number>;
}

/** Builds a connection from up to limit + 1 rows (the extra row only tells there is a next page). */
export function toConnection<T extends { id: string }>(
  rows: T[],
  page: Page,
  countTotal: () => Promise<number>,
): Connection<T> {
  const nodes = rows.slice(0, page.limit);
  const edges = nodes.map((node) => ({ cursor: encodeCursor(node.id), node }));
  return {
    edges,
    nodes,
    pageInfo: { hasNextPage: rows.length > page.limit, endCursor: edges.at(-1)?.cursor ?? null },
    countTotal,
  };
}
