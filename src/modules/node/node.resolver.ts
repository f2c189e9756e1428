import { and, eq } from "drizzle-orm";
import { Arg, Ctx, ID, Query, Resolver } from "type-graphql";
import { apiClients, auditEvents, notes } from "../../db/schema.js";
import { tenantOf } from "../../graphql/tenant.js";
import type { Context } from "../../graphql/types.js";
import { fromGlobalId, type NodeType } from "../../graphql/ids.js";
import { visibleNotes } from "../notes/notes.repository.js";
import { Node } from "../shared/relay.js";

type Loaded = (object & { id: string }) | undefined;

/** Loads one object of a Node type in the caller's organization, obeying the same row rules. */
async function loadNode(ctx: Context, type: NodeType, rowId: string): Promise<Loaded> {
  const principal = tenantOf(ctx);
  switch (type) {
    case "Organization":
      return ctx.loaders.organization.load(rowId);
    case "User":
      return ctx.loaders.user.load(rowId);
    case "Customer":
      return ctx.loaders.customer.load(rowId);
    case "Note": {
      const [note] = await ctx.db
        .select()
        .from(notes)
        .where(and(eq(notes.id, rowId), eq(notes.orgId, principal.orgId), visibleNotes(principal)));
      return note;
    }
    case "AuditEvent": {
      const [event] = await ctx.db
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.id, rowId), eq(auditEvents.orgId, principal.orgId)));
      return event;
    }
    case "ApiClient": {
      const [client] = await ctx.db
        .select()
        .from(apiClients)
        .where(and(eq(apiClients.id, rowId), eq(apiClients.orgId, principal.orgId)));
      return client;
    }
  }
}

@Resolver()
export class NodeResolver {
  @Query(() => Node, { nullable: true, description: "Any object by its global id." })
  async node(@Arg("id", () => ID) id: string, @Ctx() ctx: Context): Promise<object | null> {
    tenantOf(ctx);
    const decoded = fromGlobalId(id);
    if (!decoded) return null;
    const row = await loadNode(ctx, decoded.type, decoded.rowId);
    return row ? { ...row, __typename: decoded.type } : null;
  }
}
