import { and, eq } from "drizzle-orm";
import { Arg, Ctx, FieldResolver, ID, Mutation, Resolver, Root } from "type-graphql";
import { uuidv7 } from "../../db/uuidv7.js";
import { type CustomerRow, customers, type NoteRow, notes, type UserRow } from "../../db/schema.js";
import { tenantOf } from "../../graphql/tenant.js";
import type { Context } from "../../graphql/types.js";
import { forbidden, notFound } from "../../graphql/errors.js";
import { requireRowId, toGlobalId } from "../../graphql/ids.js";
import { noteBody, parseInput } from "../../graphql/validation.js";
import { Customer } from "../customers/customer.type.js";
import { User } from "../users/user.type.js";
import { Note } from "./note.type.js";

@Resolver(() => Note)
export class NoteResolver {
  @Mutation(() => Note, { nullable: true, description: "Adds a note to a customer." })
  async addNote(
    @Arg("customerId", () => ID) customerId: string,
    @Arg("body", () => String) rawBody: string,
    @Arg("private", () => Boolean, { nullable: true, defaultValue: false })
    isPrivate: boolean | null,
    @Ctx() ctx: Context,
  ): Promise<NoteRow> {
    const principal = tenantOf(ctx);
    if (principal.kind !== "user") throw forbidden(); // a note always has a person as author
    const customerRowId = requireRowId(customerId, "Customer");
    const body = parseInput(noteBody, rawBody, "body");
    const tx = await ctx.write();
    // The customer must exist in the caller's organization (locked so it cannot vanish meanwhile).
    const [customer] = await tx
      .select({ id: customers.id })
      .from(customers)
      .where(and(eq(customers.id, customerRowId), eq(customers.orgId, principal.orgId)))
      .for("share");
    if (!customer) throw notFound();
    const [row] = await tx
      .insert(notes)
      .values({
        id: uuidv7(),
        orgId: principal.orgId,
        customerId: customer.id,
        authorId: principal.id,
        body,
        private: isPrivate ?? false,
      })
      .returning();
    return row!;
  }

  @FieldResolver(() => ID)
  id(@Root() note: NoteRow): string {
    return toGlobalId("Note", note.id);
  }

  @FieldResolver(() => User, { nullable: true })
  author(@Root() note: NoteRow, @Ctx() ctx: Context): Promise<UserRow | undefined> | null {
    return note.authorId ? ctx.loaders.user.load(note.authorId) : null;
  }

  @FieldResolver(() => Customer, { nullable: true })
  customer(@Root() note: NoteRow, @Ctx() ctx: Context): Promise<CustomerRow | undefined> {
    return ctx.loaders.customer.load(note.customerId);
  }
}
