import { and, asc, count, eq, gt, ilike, type SQL, sql } from "drizzle-orm";
import { QueryBuilder } from "drizzle-orm/pg-core";
import { fixedInsert, fixedSelect } from "../../db/fixed-statement.js";
import { uuidv7 } from "../../db/uuidv7.js";
import { emailIndexColumns, emailIndexMatches } from "../../db/blind-index.js";
import type { Database } from "../../db/client.js";
import { type CustomerRow, customers } from "../../db/schema.js";
import type { Page } from "../../graphql/pagination.js";
import type { BlindIndex, FieldCipher } from "../../security/pii.js";
import type { CustomerFields } from "./customer.inputs.js";
import {
  type Contact,
  contactOfRow,
  EMPTY_CONTACT,
  NO_LEGACY_CONTACT,
  sealContact,
  STORED_CONTACT_COLUMNS,
} from "./contact.js";

export type CustomerPiiColumn = "email" | "phone" | "date_of_birth" | "tax_id" | "tax_id_last4";

export const customerBinding = (rowId: string, column: CustomerPiiColumn) => ({
  table: "customers",
  column,
  rowId,
});

export interface CustomerSearch {
  /** Matched by blind index, never by decrypting. */
  email?: { value: string; blindIndex: BlindIndex } | undefined;
  nameContains?: string | undefined;
}

/** Escapes LIKE wildcards so a search for "50%" finds "50%", not everything. */
const likeLiteral = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

function searchConditions(orgId: string, search: CustomerSearch): (SQL | undefined)[] {
  return [
    eq(customers.orgId, orgId),
    search.email === undefined
      ? undefined
      : emailIndexMatches(
          search.email.blindIndex,
          { current: customers.emailBidx, next: customers.emailBidxNext },
          search.email.value,
        ),
    search.nameContains === undefined
      ? undefined
      : ilike(customers.name, `%${likeLiteral(search.nameContains)}%`),
  ];
}

const pageOf = (where: SQL | undefined) =>
  fixedSelect<CustomerRow>(
    new QueryBuilder()
      .select()
      .from(customers)
      .where(and(eq(customers.orgId, sql.placeholder("orgId")), where))
      .orderBy(asc(customers.id))
      .limit(sql.placeholder("limit")),
  );
/** The unfiltered pages, every listing's usual shape, with their SQL built once. */
const FIRST_PAGE = pageOf(undefined);
const NEXT_PAGE = pageOf(gt(customers.id, sql.placeholder("afterId")));

export function findCustomersPage(
  db: Database,
  orgId: string,
  search: CustomerSearch,
  page: Page,
): Promise<CustomerRow[]> {
  if (search.email === undefined && search.nameContains === undefined) {
    const values = { orgId, limit: page.limit + 1, afterId: page.afterId };
    return page.afterId ? NEXT_PAGE(db, values) : FIRST_PAGE(db, values);
  }
  return db
    .select()
    .from(customers)
    .where(
      and(
        ...searchConditions(orgId, search),
        page.afterId ? gt(customers.id, page.afterId) : undefined,
      ),
    )
    .orderBy(asc(customers.id))
    .limit(page.limit + 1)
    .execute();
}

export async function countCustomers(db: Database, orgId: string, search: CustomerSearch) {
  const [row] = await db
    .select({ n: count() })
    .from(customers)
    .where(and(...searchConditions(orgId, search)));
  return row?.n ?? 0;
}

type Pii = { cipher: FieldCipher; blindIndex: BlindIndex };

/** The contact fields a patch sets (undefined: kept); the tax id's last four follow the tax id. */
function contactChanges(fields: CustomerFields): Partial<Contact> {
  const changes: Partial<Contact> = {};
  if (fields.email !== undefined) changes.email = fields.email;
  if (fields.phone !== undefined) changes.phone = fields.phone;
  if (fields.dateOfBirth !== undefined) changes.dateOfBirth = fields.dateOfBirth;
  if (fields.taxId !== undefined) changes.taxIdLast4 = fields.taxId?.slice(-4) ?? null;
  return changes;
}

/**
 * The stored columns for the given fields: encrypted and bound to the row. `current` is the
 * contact the changes apply to; without it (a patch of no contact field) contact_enc is kept.
 */
function customerColumns(
  pii: Pii,
  rowId: string,
  fields: CustomerFields,
  current: Contact | undefined,
): Partial<typeof customers.$inferInsert> {
  const out: Partial<typeof customers.$inferInsert> = {};
  if (fields.name !== undefined) out.name = fields.name;
  if (fields.email !== undefined) {
    Object.assign(
      out,
      fields.email === null
        ? { emailBidx: null, emailBidxNext: null }
        : emailIndexColumns(pii.blindIndex, fields.email),
    );
  }
  if (fields.taxId !== undefined) {
    out.taxIdEnc = pii.cipher.encryptOptional(fields.taxId, customerBinding(rowId, "tax_id"));
  }
  if (current !== undefined) {
    const contact = { ...current, ...contactChanges(fields) };
    Object.assign(out, NO_LEGACY_CONTACT, { contactEnc: sealContact(pii.cipher, rowId, contact) });
  }
  return out;
}

/** The stored columns of a new row (also used by the seed and the bench for bulk inserts). */
export function encryptCustomerFields(
  pii: Pii,
  rowId: string,
  fields: CustomerFields,
): Partial<typeof customers.$inferInsert> {
  return customerColumns(pii, rowId, fields, EMPTY_CONTACT);
}

/** Every column a new customer row is given (the timestamps take their defaults). */
const INSERT_CUSTOMER = fixedInsert(customers, [
  "id",
  "orgId",
  "name",
  "createdByUserId",
  "createdByClientId",
  "contactEnc",
  "emailBidx",
  "emailBidxNext",
  "taxIdEnc",
  "emailEnc",
  "phoneEnc",
  "dateOfBirthEnc",
  "taxIdLast4Enc",
]);

export async function insertCustomer(
  db: Database,
  pii: Pii,
  values: {
    orgId: string;
    name: string;
    createdByUserId: string | null;
    createdByClientId: string | null;
  },
  fields: CustomerFields,
): Promise<CustomerRow> {
  const id = uuidv7();
  const [row] = await INSERT_CUSTOMER(db, {
    id,
    ...values,
    ...encryptCustomerFields(pii, id, fields),
  });
  return row!;
}

/**
 * Applies a patch to a customer of the organization; undefined when there is none. A patch of
 * some contact fields merges them into the stored envelope: read and locked (FOR UPDATE) in the
 * caller's transaction, so two concurrent patches of different fields both survive.
 */
export async function updateCustomerRow(
  db: Database,
  pii: Pii,
  where: { orgId: string; rowId: string },
  patch: CustomerFields,
): Promise<CustomerRow | undefined> {
  const ofOrg = and(eq(customers.id, where.rowId), eq(customers.orgId, where.orgId));
  let current: Contact | undefined;
  if (Object.keys(contactChanges(patch)).length > 0) {
    const [stored] = await db
      .select({ id: customers.id, ...STORED_CONTACT_COLUMNS })
      .from(customers)
      .where(ofOrg)
      .for("update");
    if (!stored) return undefined;
    current = contactOfRow(pii.cipher, stored);
  }
  const [row] = await db
    .update(customers)
    .set({ ...customerColumns(pii, where.rowId, patch, current), updatedAt: new Date() })
    .where(ofOrg)
    .returning();
  return row;
}
