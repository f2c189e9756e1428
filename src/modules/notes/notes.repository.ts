import { and, count, eq, gt, inArray, lte, or, type SQL, sql } from "drizzle-orm";
import { getTableColumns } from "drizzle-orm";
import type { Database } from "../../db/client.js";
import { type NoteRow, notes } from "../../db/schema.js";
import type { AuthenticatedPrincipal } from "../../security/principal.js";

/** Private notes are visible only to their author and to ADMINs; filtered in SQL so counts agree. */
export function visibleNotes(principal: AuthenticatedPrincipal): SQL | undefined {
  if (principal.kind === "user" && principal.role === "ADMIN") return undefined;
  return principal.kind === "user"
    ? or(eq(notes.private, false), eq(notes.authorId, principal.id))
    : eq(notes.private, false);
}

/** Notes of these customers that the principal may see, in its organization. */
const notesOfCustomers = (principal: AuthenticatedPrincipal, customerIds: readonly string[]) => [
  eq(notes.orgId, principal.orgId),
  inArray(notes.customerId, [...customerIds]),
  visibleNotes(principal),
];

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
  const ranked = db
    .select({
      ...getTableColumns(notes),
      rank: sql<number>`row_number() over (partition by ${notes.customerId} order by ${notes.id})`.as(
        "rank",
      ),
    })
    .from(notes)
    .where(
      and(...notesOfCustomers(principal, customerIds), afterId ? gt(notes.id, afterId) : undefined),
    )
    .as("ranked");
  const rows = await db
    .select()
    .from(ranked)
    .where(lte(ranked.rank, limit + 1))
    .orderBy(ranked.id);
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
    .where(and(...notesOfCustomers(principal, customerIds)))
    .groupBy(notes.customerId);
  return new Map(rows.map((r) => [r.customerId, r.n]));
}
