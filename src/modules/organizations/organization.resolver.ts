import { Ctx, FieldResolver, ID, Query, Resolver, Root } from "type-graphql";
import type { OrganizationRow } from "../../db/schema.js";
import { tenantOf } from "../../graphql/tenant.js";
import type { Context } from "../../graphql/types.js";
import { toGlobalId } from "../../graphql/ids.js";
import { Organization } from "./organization.type.js";

@Resolver(() => Organization)
export class OrganizationResolver {
  @Query(() => Organization, { nullable: true, description: "The caller's organization." })
  organization(@Ctx() ctx: Context): Promise<OrganizationRow | undefined> {
    return ctx.loaders.organization.load(tenantOf(ctx).orgId);
  }

  @FieldResolver(() => ID)
  id(@Root() organization: OrganizationRow): string {
    return toGlobalId("Organization", organization.id);
  }
}
