import { and, count, desc, eq, type SQL, sql } from "drizzle-orm";
import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from "type-graphql";
import { type AuditEventRow, auditEvents } from "../../db/schema.js";
import { tenantOf } from "../../graphql/tenant.js";
import type { Context } from "../../graphql/types.js";
import { fromGlobalId, toGlobalId } from "../../graphql/ids.js";
import { type Connection, parsePage, toConnection } from "../../graphql/pagination.js";
import { storableText } from "../../security/audit/describe-operation.js";
import { AuditEvent, AuditEventConnection, AuditEventFilter } from "./audit-event.type.js";

/** The SQL conditions of a filter; an actorId that names no user or client matches nothing. */
function filterConditions(
  orgId: string,
  filter: AuditEventFilter | null,
): (SQL | undefined)[] | null {
  const conditions: (SQL | undefined)[] = [eq(auditEvents.orgId, orgId)];
  if (filter?.actorId != null) {
    const actor = fromGlobalId(filter.actorId);
    if (!actor || (actor.type !== "User" && actor.type !== "ApiClient")) return null;
    conditions.push(eq(auditEvents.actorId, actor.rowId));
  }
  if (filter?.outcome != null) conditions.push(eq(auditEvents.outcome, filter.outcome));
  // Names are stored as storableText keeps them (no NUL, no lone surrogate): compared alike.
  if (filter?.operationName != null)
    conditions.push(eq(auditEvents.operationName, storableText(filter.operationName)));
  return conditions;
}

@Resolver(() => AuditEvent)
export class AuditEventResolver {
  @Query(() => AuditEventConnection, {
    nullable: true,
    description: "The audit log, newest first.",
  })
  async auditEvents(
    @Arg("first", () => Int, { nullable: true, defaultValue: 20 }) first: number | null,
    @Arg("after", () => String, { nullable: true }) after: string | null,
    @Arg("filter", () => AuditEventFilter, { nullable: true }) filter: AuditEventFilter | null,
    @Ctx() ctx: Context,
  ): Promise<Connection<AuditEventRow>> {
    const { orgId } = tenantOf(ctx);
    const page = parsePage(first, after);
    const conditions = filterConditions(orgId, filter);
    if (!conditions) return toConnection([], page, () => Promise.resolve(0));
    const rows = await ctx.db
      .select()
      .from(auditEvents)
      .where(
        and(
          ...conditions,
          // Newest first by the time of the event; the id breaks ties, so the order is total.
          // The cursor is an event id, looked up in the tenant only: another organization's
          // event id reads as unknown (an empty page), never as a position.
          page.afterId
            ? sql`(${auditEvents.at}, ${auditEvents.id}) < (select ${auditEvents.at}, ${auditEvents.id} from ${auditEvents} where ${auditEvents.id} = ${page.afterId} and ${auditEvents.orgId} = ${orgId})`
            : undefined,
        ),
      )
      .orderBy(desc(auditEvents.at), desc(auditEvents.id))
      .limit(page.limit + 1);
    return toConnection(rows, page, async () => {
      const [row] = await ctx.db
        .select({ n: count() })
        .from(auditEvents)
        .where(and(...conditions));
      return row?.n ?? 0;
    });
  }

  @FieldResolver(() => ID)
  id(@Root() event: AuditEventRow): string {
    return toGlobalId("AuditEvent", event.id);
  }

  @FieldResolver(() => ID, { nullable: true })
  actorId(@Root() event: AuditEventRow): string | null {
    if (!event.actorId) return null;
    return toGlobalId(event.actorType === "API_CLIENT" ? "ApiClient" : "User", event.actorId);
  }
}
