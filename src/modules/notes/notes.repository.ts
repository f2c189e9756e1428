import {
  and,
  count,
  eq,
  getTableColumns,
  gt,
  lte,
  or,
  type SQL,
  sql,
  type SQLWrapper,
} from "drizzle-orm";
import { QueryBuilder } from "drizzle-orm/pg-core";
import type { Database } from "../../db/client.js";
import { fixedSelect, uuidArray } from "../../db/fixed-statement.js";
import { type NoteRow, notes } from "../../db/schema.js";
import type { AuthenticatedPrincipal } from "../../security/principal.js";

/** Which notes a principal sees: private notes only their author and ADMINs. */
type Visibility = "all" | "public" | "publicOrAuthored";

const visibilityOf = (principal: AuthenticatedPrincipal): Visibility =>
  principal.kind === "user" ? (principal.role === "ADMIN" ? "all" : "publicOrAuthored") : "public";

/** The condition of a visibility, `reader` being the reading user's id (or a placeholder for it). */
function visibleTo(visibility: Visibility, reader: string | SQLWrapper): SQL | undefined {
  if (visibility === "all") return undefined;
  return visibility === "public"
    ? eq(notes.private, false)
    : or(eq(notes.private, false), eq(notes.authorId, reader));
}

/** Private notes are visible only to their author and to ADMINs; filtered in SQL so counts agree. */
export const visibleNotes = (principal: AuthenticatedPrincipal): SQL | undefined =>
  visibleTo(visibilityOf(principal), principal.id);

/**
 * Notes of the customers `customerIds` (one uuid[], see uuidArray) in the organization `orgId`
 * that `visibility` shows `reader`: values, or placeholders for a statement built once.
 */
const notesOfCustomers = (
  orgId: string | SQLWrapper,
  customerIds: string | SQLWrapper,
  visibility: Visibility,
  reader: string | SQLWrapper,
) =>
  and(
    eq(notes.orgId, orgId),
    sql`${notes.customerId} = any(${customerIds}::uuid[])`,
    visibleTo(visibility, reader),
  );

/**
 * The statement of findNotePages for one visibility, with or without a cursor: built once (the
 * customers as one uuid[] parameter, so the text does not change with their number).
 */
function notePagesStatement(visibility: Visibility, withCursor: boolean) {
  const qb = new QueryBuilder();
  const ranked = qb
    .select({
      ...getTableColumns(notes),
      rank: sql<number>`row_number() over (partition by ${notes.customerId} order by ${notes.id})`.as(
        "rank",
      ),
    })
    .from(notes)
    .where(
      and(
        notesOfCustomers(
          sql.placeholder("orgId"),
          sql.placeholder("customerIds"),
          visibility,
          sql.placeholder("readerId"),
        ),
        withCursor ? gt(notes.id, sql.placeholder("afterId")) : undefined,
      ),
    )
    .as("ranked");
  return fixedSelect(
    qb
      .select()
      .from(ranked)
      .where(lte(ranked.rank, sql.placeholder("ranks")))
      .orderBy(ranked.id),
  );
}

const NOTE_PAGES = new Map<string, ReturnType<typeof notePagesStatement>>();

/**
 * One page of notes for each of many customers, in one statement: rows ranked per customer,
 * at most limit + 1 each (the extra row tells whether there is a next page).
 */
export async function findNotePages(
  db: Database,
  principal: AuthenticatedPrincipal,
  customerIds: readonly string[],
  limit: number,
  afterId: string | undefined,
): Promise<Map<string, NoteRow[]>> {
  const visibility = visibilityOf(principal);
  const key = `${visibility}:${afterId !== undefined}`;
  let statement = NOTE_PAGES.get(key);
  if (!statement) {
    statement = notePagesStatement(visibility, afterId !== undefined);
    NOTE_PAGES.set(key, statement);
  }
  const rows = await statement(db, {
    orgId: principal.orgId,
    customerIds: uuidArray(customerIds),
    readerId: principal.id,
    afterId,
    ranks: limit + 1,
  });
  const pages = new Map<string, NoteRow[]>(customerIds.map((id) => [id, []]));
  for (const { rank: _rank, ...note } of rows) pages.get(note.customerId)?.push(note);
  return pages;
}

export async function countNotesByCustomer(
  db: Database,
  principal: AuthenticatedPrincipal,
  customerIds: readonly string[],
): Promise<Map<string, number>> {
  const rows = await db
    .select({ customerId: notes.customerId, n: count() })
    .from(notes)
    .where(
      notesOfCustomers(
        principal.orgId,
        uuidArray(customerIds),
        visibilityOf(principal),
        principal.id,
      ),
    )
    .groupBy(notes.customerId);
  return new Map(rows.map((r) => [r.customerId, r.n]));
}
