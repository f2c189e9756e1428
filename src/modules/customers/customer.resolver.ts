import { and, eq } from "drizzle-orm";
import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from "type-graphql";
import { type CustomerRow, customers, type NoteRow, type UserRow } from "../../db/schema.js";
import { tenantOf } from "../../graphql/tenant.js";
import type { Context } from "../../graphql/types.js";
import { notFound } from "../../graphql/errors.js";
import { requireRowId, rowIdOf, toGlobalId } from "../../graphql/ids.js";
import { type Connection, parsePage, toConnection } from "../../graphql/pagination.js";
import { parseInput } from "../../graphql/validation.js";
import { NoteConnection } from "../notes/note.type.js";
import { User } from "../users/user.type.js";
import {
  CustomerFilter,
  customerFilter,
  CustomerInput,
  customerInput,
  CustomerPatch,
  customerPatch,
} from "./customer.inputs.js";
import { PiiDecryptionError } from "../../security/pii.js";
import { type Contact, contactOfRow } from "./contact.js";
import { Customer, CustomerConnection } from "./customer.type.js";
import {
  countCustomers,
  customerBinding,
  findCustomersPage,
  insertCustomer,
  updateCustomerRow,
} from "./customers.repository.js";

/**
 * The contact of a row, decrypted once per row object: the rows of one operation are objects of
 * their own, so a page costs one decryption per row whichever contact fields it selects. A
 * failure is remembered too, and each of the fields fails with it.
 */
const contacts = new WeakMap<CustomerRow, Contact | PiiDecryptionError>();

function contactOf(ctx: Context, row: CustomerRow): Contact {
  let contact = contacts.get(row);
  if (contact === undefined) {
    try {
      contact = contactOfRow(ctx.services.cipher, row);
    } catch (error) {
      if (!(error instanceof PiiDecryptionError)) throw error;
      contact = error;
    }
    contacts.set(row, contact);
  }
  if (contact instanceof PiiDecryptionError) throw contact;
  return contact;
}

@Resolver(() => Customer)
export class CustomerResolver {
  @Query(() => Customer, { nullable: true })
  customer(@Arg("id", () => ID) id: string, @Ctx() ctx: Context): Promise<CustomerRow | undefined> {
    tenantOf(ctx);
    const rowId = rowIdOf(id, "Customer");
    return rowId ? ctx.loaders.customer.load(rowId) : Promise.resolve(undefined);
  }

  @Query(() => CustomerConnection, { nullable: true })
  async customers(
    @Arg("first", () => Int, { nullable: true, defaultValue: 20 }) first: number | null,
    @Arg("after", () => String, { nullable: true }) after: string | null,
    @Arg("filter", () => CustomerFilter, { nullable: true }) rawFilter: CustomerFilter | null,
    @Ctx() ctx: Context,
  ): Promise<Connection<CustomerRow>> {
    const { orgId } = tenantOf(ctx);
    const page = parsePage(first, after);
    const filter = parseInput(customerFilter, rawFilter, "filter");
    const search = {
      email: filter?.email
        ? { value: filter.email, blindIndex: ctx.services.blindIndex }
        : undefined,
      nameContains: filter?.nameContains ?? undefined,
    };
    const rows = await findCustomersPage(ctx.db, orgId, search, page);
    return toConnection(rows, page, () => countCustomers(ctx.db, orgId, search));
  }

  @Mutation(() => Customer, { nullable: true })
  async createCustomer(
    @Arg("input", () => CustomerInput) rawInput: CustomerInput,
    @Ctx() ctx: Context,
  ): Promise<CustomerRow> {
    const principal = tenantOf(ctx);
    const input = parseInput(customerInput, rawInput, "input");
    return insertCustomer(
      await ctx.write(),
      ctx.services,
      {
        orgId: principal.orgId,
        name: input.name,
        createdByUserId: principal.kind === "user" ? principal.id : null,
        createdByClientId: principal.kind === "client" ? principal.id : null,
      },
      input,
    );
  }

  @Mutation(() => Customer, { nullable: true })
  async updateCustomer(
    @Arg("id", () => ID) id: string,
    @Arg("input", () => CustomerPatch) rawInput: CustomerPatch,
    @Ctx() ctx: Context,
  ): Promise<CustomerRow> {
    const { orgId } = tenantOf(ctx);
    const rowId = requireRowId(id, "Customer");
    const patch = parseInput(customerPatch, rawInput, "input");
    const row = await updateCustomerRow(await ctx.write(), ctx.services, { orgId, rowId }, patch);
    if (!row) throw notFound();
    return row;
  }

  @Mutation(() => Boolean, { nullable: true, description: "Deletes a customer and its notes." })
  async deleteCustomer(@Arg("id", () => ID) id: string, @Ctx() ctx: Context): Promise<boolean> {
    const { orgId } = tenantOf(ctx);
    const rowId = requireRowId(id, "Customer");
    const deleted = await (
      await ctx.write()
    )
      .delete(customers)
      .where(and(eq(customers.id, rowId), eq(customers.orgId, orgId)))
      .returning({ id: customers.id });
    if (deleted.length === 0) throw notFound();
    return true;
  }

  @FieldResolver(() => ID)
  id(@Root() customer: CustomerRow): string {
    return toGlobalId("Customer", customer.id);
  }

  @FieldResolver(() => User, { nullable: true })
  createdBy(
    @Root() customer: CustomerRow,
    @Ctx() ctx: Context,
  ): Promise<UserRow | undefined> | null {
    return customer.createdByUserId ? ctx.loaders.user.load(customer.createdByUserId) : null;
  }

  @FieldResolver(() => String, { nullable: true })
  email(@Root() customer: CustomerRow, @Ctx() ctx: Context): string | null {
    return contactOf(ctx, customer).email;
  }

  @FieldResolver(() => String, { nullable: true })
  phone(@Root() customer: CustomerRow, @Ctx() ctx: Context): string | null {
    return contactOf(ctx, customer).phone;
  }

  @FieldResolver(() => String, { nullable: true })
  dateOfBirth(@Root() customer: CustomerRow, @Ctx() ctx: Context): string | null {
    return contactOf(ctx, customer).dateOfBirth;
  }

  @FieldResolver(() => String, { nullable: true })
  taxId(@Root() customer: CustomerRow, @Ctx() ctx: Context): string | null {
    return ctx.services.cipher.decryptOptional(
      customer.taxIdEnc,
      customerBinding(customer.id, "tax_id"),
    );
  }

  @FieldResolver(() => String, { nullable: true })
  taxIdLast4(@Root() customer: CustomerRow, @Ctx() ctx: Context): string | null {
    return contactOf(ctx, customer).taxIdLast4;
  }

  @FieldResolver(() => NoteConnection, { nullable: true })
  async notes(
    @Root() customer: CustomerRow,
    @Arg("first", () => Int, { nullable: true, defaultValue: 20 }) first: number | null,
    @Arg("after", () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: Context,
  ): Promise<Connection<NoteRow>> {
    const page = parsePage(first, after);
    const rows = await ctx.loaders.notesPage.load({ customerId: customer.id, ...page });
    return toConnection(rows, page, () => ctx.loaders.noteCount.load(customer.id));
  }
}
