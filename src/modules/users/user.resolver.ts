import { and, asc, eq } from "drizzle-orm";
import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from "type-graphql";
import { type UserRow, users } from "../../db/schema.js";
import { tenantOf } from "../../graphql/tenant.js";
import type { Context } from "../../graphql/types.js";
import { badUserInput, forbidden, notFound } from "../../graphql/errors.js";
import { requireRowId, rowIdOf, toGlobalId } from "../../graphql/ids.js";
import { type Connection, parsePage, toConnection } from "../../graphql/pagination.js";
import { parseInput } from "../../graphql/validation.js";
import { countAuthAttempt, hashTurn, refuseIfAttemptsExhausted } from "../auth/attempts.js";
import { Role } from "../shared/enums.js";
import { CreateUserInput, createUserInput, UpdateMeInput, updateMeInput } from "./user.inputs.js";
import { User, UserConnection } from "./user.type.js";
import {
  countUsers,
  EmailTakenError,
  findUsersPage,
  insertUser,
  userBinding,
} from "./users.repository.js";

/** The signed-in user (not an API client, which is never "self"). */
function selfOf(ctx: Context) {
  const principal = tenantOf(ctx);
  if (principal.kind !== "user") throw forbidden();
  return principal;
}

export function emailTaken(field: string) {
  return badUserInput(field, `${field} is already registered`);
}

@Resolver(() => User)
export class UserResolver {
  @Query(() => User, { nullable: true, description: "The signed-in user." })
  me(@Ctx() ctx: Context): Promise<UserRow | undefined> {
    return ctx.loaders.user.load(selfOf(ctx).id);
  }

  @Query(() => User, { nullable: true })
  async user(@Arg("id", () => ID) id: string, @Ctx() ctx: Context): Promise<UserRow | undefined> {
    tenantOf(ctx);
    const rowId = rowIdOf(id, "User");
    return rowId ? ctx.loaders.user.load(rowId) : undefined;
  }

  @Query(() => UserConnection, { nullable: true })
  async users(
    @Arg("first", () => Int, { nullable: true, defaultValue: 20 }) first: number | null,
    @Arg("after", () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: Context,
  ): Promise<Connection<UserRow>> {
    const { orgId } = tenantOf(ctx);
    const page = parsePage(first, after);
    const rows = await findUsersPage(ctx.db, orgId, page);
    return toConnection(rows, page, () => countUsers(ctx.db, orgId));
  }

  @Mutation(() => User, {
    nullable: true,
    description: "Adds a user to the caller's organization.",
  })
  async createUser(
    @Arg("input", () => CreateUserInput) rawInput: CreateUserInput,
    @Ctx() ctx: Context,
  ): Promise<UserRow> {
    const { orgId } = tenantOf(ctx);
    const input = parseInput(createUserInput, rawInput, "input");
    // Emails are unique across organizations (logIn takes only an email), so "already
    // registered" tells whether an address has an account anywhere: each such answer counts as
    // an authentication attempt of the caller's address, and past the limit every createUser of
    // that address is refused, whatever its email, so the refusal tells nothing either.
    await refuseIfAttemptsExhausted(ctx);
    const { cipher, blindIndex, passwords } = ctx.services;
    const passwordHash = await passwords.hash(input.password, hashTurn(ctx, orgId));
    try {
      return await insertUser(
        await ctx.write(),
        { cipher, blindIndex },
        { orgId, ...input, passwordHash },
      );
    } catch (error) {
      if (!(error instanceof EmailTakenError)) throw error;
      await countAuthAttempt(ctx).catch(() => undefined); // the answer stays the same
      throw emailTaken("input.email");
    }
  }

  @Mutation(() => User, {
    nullable: true,
    description: "Changes a user's role. An organization always keeps at least one ADMIN.",
  })
  async setUserRole(
    @Arg("id", () => ID) id: string,
    @Arg("role", () => Role) role: Role,
    @Ctx() ctx: Context,
  ): Promise<UserRow> {
    const { orgId } = tenantOf(ctx);
    const rowId = requireRowId(id, "User");
    const db = await ctx.write();
    return db.transaction(async (tx) => {
      // Lock the organization's admins (in id order, so concurrent demotions serialize).
      const admins = await tx
        .select({ id: users.id })
        .from(users)
        .where(and(eq(users.orgId, orgId), eq(users.role, "ADMIN")))
        .orderBy(asc(users.id))
        .for("update");
      const [target] = await tx
        .select({ id: users.id, role: users.role })
        .from(users)
        .where(and(eq(users.id, rowId), eq(users.orgId, orgId)))
        .for("update");
      if (!target) throw notFound();
      if (target.role === "ADMIN" && role !== Role.ADMIN && admins.length <= 1) {
        throw badUserInput("role", "the organization must keep at least one ADMIN");
      }
      const [updated] = await tx.update(users).set({ role }).where(eq(users.id, rowId)).returning();
      return updated!;
    });
  }

  @Mutation(() => User, { nullable: true, description: "Updates the signed-in user's profile." })
  async updateMe(
    @Arg("input", () => UpdateMeInput) rawInput: UpdateMeInput,
    @Ctx() ctx: Context,
  ): Promise<UserRow> {
    const self = selfOf(ctx);
    const input = parseInput(updateMeInput, rawInput, "input");
    const changes: Partial<typeof users.$inferInsert> = {};
    if (input.displayName !== undefined) changes.displayName = input.displayName;
    if (input.phone !== undefined) {
      changes.phoneEnc = ctx.services.cipher.encryptOptional(
        input.phone,
        userBinding(self.id, "phone"),
      );
    }
    const db = await ctx.write();
    const query = db.update(users).set(changes);
    const [updated] = await (Object.keys(changes).length > 0
      ? query.where(and(eq(users.id, self.id), eq(users.orgId, self.orgId))).returning()
      : db
          .select()
          .from(users)
          .where(and(eq(users.id, self.id), eq(users.orgId, self.orgId))));
    if (!updated) throw notFound();
    return updated;
  }

  @FieldResolver(() => ID)
  id(@Root() user: UserRow): string {
    return toGlobalId("User", user.id);
  }

  @FieldResolver(() => String, { nullable: true })
  email(@Root() user: UserRow, @Ctx() ctx: Context): string {
    return ctx.services.cipher.decrypt(user.emailEnc, userBinding(user.id, "email"));
  }

  @FieldResolver(() => String, { nullable: true })
  phone(@Root() user: UserRow, @Ctx() ctx: Context): string | null {
    return ctx.services.cipher.decryptOptional(user.phoneEnc, userBinding(user.id, "phone"));
  }
}
