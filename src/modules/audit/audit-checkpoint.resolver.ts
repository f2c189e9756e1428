import { desc, eq } from "drizzle-orm";
import { Ctx, Query, Resolver } from "type-graphql";
import { auditCheckpoints } from "../../db/schema.js";
import { tenantOf } from "../../graphql/tenant.js";
import type { Context } from "../../graphql/types.js";
import { checkpointRecord } from "../../security/audit/checkpoint.js";
import { exportLine } from "../../security/audit/export.js";
import { keyIdOf, publicKeyPem } from "../../security/audit/signing.js";
import { AuditCheckpoint } from "./audit-checkpoint.type.js";

@Resolver(() => AuditCheckpoint)
export class AuditCheckpointResolver {
  @Query(() => AuditCheckpoint, {
    nullable: true,
    description:
      "The latest signed checkpoint of the organization's audit chain (null before the first).",
  })
  async auditCheckpoint(@Ctx() ctx: Context): Promise<AuditCheckpoint | null> {
    const { orgId } = tenantOf(ctx);
    const [checkpoint] = await ctx.db
      .select()
      .from(auditCheckpoints)
      .where(eq(auditCheckpoints.chainId, orgId))
      .orderBy(desc(auditCheckpoints.seq))
      .limit(1);
    if (!checkpoint) return null;
    const { signingKey } = ctx.services.config.audit;
    return {
      ...checkpoint,
      seq: String(checkpoint.seq),
      line: exportLine(checkpointRecord(checkpoint)).trimEnd(),
      publicKey: keyIdOf(signingKey) === checkpoint.keyId ? publicKeyPem(signingKey) : null,
    };
  }
}
