import DataLoader from "dataloader";
import { and, eq, inArray } from "drizzle-orm";
import { customers, type NoteRow, organizations, users } from "../db/schema.js";
import { tenantOf } from "../graphql/tenant.js";
import type { Context, Loaders } from "../graphql/types.js";
import { countNotesByCustomer, findNotePages } from "./notes/notes.repository.js";

/** A loader of rows by id; ids not returned by fetch (missing, or another tenant's) load as undefined. */
function byId<T extends { id: string }>(fetch: (ids: string[]) => Promise<T[]>) {
  return new DataLoader<string, T | undefined>(async (ids) => {
    const found = new Map((await fetch([...ids])).map((row) => [row.id, row]));
    return ids.map((id) => found.get(id));
  });
}

/**
 * The loaders of one operation. Every loader is scoped to the caller's organization in SQL, so an
 * id from another tenant loads as missing.
 */
export function createLoaders(ctx: Context): Loaders {
  return {
    organization: byId((ids) =>
      ctx.db
        .select()
        .from(organizations)
        .where(and(eq(organizations.id, tenantOf(ctx).orgId), inArray(organizations.id, ids))),
    ),
    user: byId((ids) =>
      ctx.db
        .select()
        .from(users)
        .where(and(eq(users.orgId, tenantOf(ctx).orgId), inArray(users.id, ids))),
    ),
    customer: byId((ids) =>
      ctx.db
        .select()
        .from(customers)
        .where(and(eq(customers.orgId, tenantOf(ctx).orgId), inArray(customers.id, ids))),
    ),
    notesPage: new DataLoader(
      async (keys) => {
        const principal = tenantOf(ctx);
        // Keys differ only in their page; usually all share one, so this is one statement.
        const groups = new Map<
          string,
          { limit: number; afterId: string | undefined; ids: string[] }
        >();
        for (const key of keys) {
          const groupKey = `${key.limit}:${key.afterId ?? ""}`;
          const group = groups.get(groupKey) ?? { limit: key.limit, afterId: key.afterId, ids: [] };
          group.ids.push(key.customerId);
          groups.set(groupKey, group);
        }
        const pages = new Map<string, NoteRow[]>();
        for (const [groupKey, g] of groups) {
          const result = await findNotePages(ctx.db, principal, g.ids, g.limit, g.afterId);
          for (const [customerId, rows] of result) pages.set(`${customerId}:${groupKey}`, rows);
        }
        return keys.map((k) => pages.get(`${k.customerId}:${k.limit}:${k.afterId ?? ""}`) ?? []);
      },
      { cacheKeyFn: (k) => `${k.customerId}:${k.limit}:${k.afterId ?? ""}` },
    ),
    noteCount: new DataLoader(async (customerIds) => {
      const counts = await countNotesByCustomer(ctx.db, tenantOf(ctx), customerIds);
      return customerIds.map((id) => counts.get(id) ?? 0);
    }),
  };
}
