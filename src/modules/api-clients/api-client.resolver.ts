import { timingSafeEqual, randomBytes } from "node:crypto";
import { and, asc, eq, isNull } from "drizzle-orm";
import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from "type-graphql";
import { uuidv7 } from "../../db/uuidv7.js";
import { type ApiClientRow, apiClients } from "../../db/schema.js";
import { tenantOf } from "../../graphql/tenant.js";
import type { Context } from "../../graphql/types.js";
import { invalidCredentials, notFound } from "../../graphql/errors.js";
import { requireRowId, toGlobalId } from "../../graphql/ids.js";
import { parseInput } from "../../graphql/validation.js";
import { hashOpaqueSecret, newOpaqueSecret } from "../../security/tokens.js";
import { countAuthAttempt } from "../auth/attempts.js";
import { ClientTokenPayload } from "../auth/auth.types.js";
import {
  ApiClient,
  ApiClientSecretPayload,
  CreateApiClientInput,
  createApiClientInput,
} from "./api-client.type.js";

const sameHash = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

@Resolver(() => ApiClient)
export class ApiClientResolver {
  @Query(() => [ApiClient], { nullable: true, description: "The organization's API clients." })
  apiClients(@Ctx() ctx: Context): Promise<ApiClientRow[]> {
    const { orgId } = tenantOf(ctx);
    return ctx.db
      .select()
      .from(apiClients)
      .where(eq(apiClients.orgId, orgId))
      .orderBy(asc(apiClients.id));
  }

  @Mutation(() => ApiClientSecretPayload, {
    nullable: true,
    description: "Creates partner credentials; the secret is returned once.",
  })
  async createApiClient(
    @Arg("input", () => CreateApiClientInput) rawInput: CreateApiClientInput,
    @Ctx() ctx: Context,
  ): Promise<{ client: ApiClientRow; clientSecret: string }> {
    const principal = tenantOf(ctx);
    const input = parseInput(createApiClientInput, rawInput, "input");
    const clientSecret = newOpaqueSecret("cs");
    const [client] = await (
      await ctx.write()
    )
      .insert(apiClients)
      .values({
        id: uuidv7(),
        orgId: principal.orgId,
        name: input.name,
        clientId: `cli_${randomBytes(16).toString("base64url")}`,
        secretHash: hashOpaqueSecret(clientSecret),
        scopes: [...new Set(input.scopes)],
        createdByUserId: principal.kind === "user" ? principal.id : null,
      })
      .returning();
    return { client: client!, clientSecret };
  }

  @Mutation(() => ApiClient, {
    nullable: true,
    description: "Revokes a client; its tokens stop working at once.",
  })
  async revokeApiClient(
    @Arg("id", () => ID) id: string,
    @Ctx() ctx: Context,
  ): Promise<ApiClientRow> {
    const { orgId } = tenantOf(ctx);
    const rowId = requireRowId(id, "ApiClient");
    const db = await ctx.write();
    const [row] = await db
      .update(apiClients)
      .set({ revokedAt: new Date() })
      .where(
        and(eq(apiClients.id, rowId), eq(apiClients.orgId, orgId), isNull(apiClients.revokedAt)),
      )
      .returning();
    if (row) return row;
    const [already] = await db
      .select()
      .from(apiClients)
      .where(and(eq(apiClients.id, rowId), eq(apiClients.orgId, orgId)));
    if (!already) throw notFound();
    return already;
  }

  @Mutation(() => ClientTokenPayload, {
    description:
      "Exchanges an API client's id and secret for a 1-hour access token with its scopes.",
  })
  async issueClientToken(
    @Arg("clientId", () => String) clientId: string,
    @Arg("clientSecret", () => String) clientSecret: string,
    @Ctx() ctx: Context,
  ): Promise<{ accessToken: string; expiresIn: number; scopes: string[] }> {
    await countAuthAttempt(ctx);
    const [client] =
      // A client id is short printable text: anything else names no client (and NUL, which
      // PostgreSQL text cannot hold, never reaches SQL).
      clientId.length <= 100 && !clientId.includes("\u0000")
        ? await ctx.db
            .select()
            .from(apiClients)
            .where(and(eq(apiClients.clientId, clientId), isNull(apiClients.revokedAt)))
        : [];
    const presented = hashOpaqueSecret(clientSecret.slice(0, 1024));
    const authenticated = client !== undefined && sameHash(presented, client.secretHash);
    // an attempt on an existing client is its organization's event, as a logIn is
    if (client) {
      ctx.operation.audit?.signInAttempted(
        { kind: "client", orgId: client.orgId, id: client.id },
        authenticated,
      );
    }
    if (!authenticated) throw invalidCredentials();
    const { token, expiresIn } = ctx.services.tokens.signClient(
      client.id,
      client.orgId,
      client.scopes,
    );
    return { accessToken: token, expiresIn, scopes: client.scopes };
  }

  @FieldResolver(() => ID)
  id(@Root() client: ApiClientRow): string {
    return toGlobalId("ApiClient", client.id);
  }
}
