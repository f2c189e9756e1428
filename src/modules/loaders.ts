import DataLoader from "dataloader";
import { and, eq, sql } from "drizzle-orm";
import { QueryBuilder } from "drizzle-orm/pg-core";
import { fixedSelect, uuidArray } from "../db/fixed-statement.js";
import {
  type CustomerRow,
  customers,
  type NoteRow,
  type OrganizationRow,
  organizations,
  type UserRow,
  users,
} from "../db/schema.js";
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

const ids = sql`any(${sql.placeholder("ids")}::uuid[])`;
const qb = new QueryBuilder();
/** Rows by id within the caller's organization, each statement built once (fixedSelect). */
const ORGANIZATIONS = fixedSelect<OrganizationRow>(
  qb
    .select()
    .from(organizations)
    .where(and(eq(organizations.id, sql.placeholder("orgId")), sql`${organizations.id} = ${ids}`)),
);
const USERS = fixedSelect<UserRow>(
  qb
    .select()
    .from(users)
    .where(and(eq(users.orgId, sql.placeholder("orgId")), sql`${users.id} = ${ids}`)),
);
const CUSTOMERS = fixedSelect<CustomerRow>(
  qb
    .select()
    .from(customers)
    .where(and(eq(customers.orgId, sql.placeholder("orgId")), sql`${customers.id} = ${ids}`)),
);

/**
 * The loaders of one operation. Every loader is scoped to the caller's organization in SQL, so an
 * id from another tenant loads as missing.
 */
export function createLoaders(ctx: Context): Loaders {
  const inOrganization = (rowIds: string[]) => ({
    orgId: tenantOf(ctx).orgId,
    ids: uuidArray(rowIds),
  });
  return {
    organization: byId((rowIds) => ORGANIZATIONS(ctx.db, inOrganization(rowIds))),
    user: byId((rowIds) => USERS(ctx.db, inOrganization(rowIds))),
    customer: byId((rowIds) => CUSTOMERS(ctx.db, inOrganization(rowIds))),
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
