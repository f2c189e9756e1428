import { and, asc, count, eq, gt, ilike, type SQL } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import { emailIndexColumns, emailIndexMatches } from "../../db/blind-index.js";
import type { Database } from "../../db/client.js";
import { type CustomerRow, customers } from "../../db/schema.js";
import type { Page } from "../../graphql/pagination.js";
import type { BlindIndex, FieldCipher } from "../../security/pii.js";
import type { CustomerFields } from "./customer.inputs.js";

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

export function findCustomersPage(db: Database, orgId: string, search: CustomerSearch, page: Page) {
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
    .limit(page.limit + 1);
}

export async function countCustomers(db: Database, orgId: string, search: CustomerSearch) {
  const [row] = await db
    .select({ n: count() })
    .from(customers)
    .where(and(...searchConditions(orgId, search)));
  return row?.n ?? 0;
}

/**
 * The stored columns for the given personal-data fields: encrypted and bound to the row.
 * A field that is undefined is left out (kept); null clears it.
 */
export function encryptCustomerFields(
  pii: { cipher: FieldCipher; blindIndex: BlindIndex },
  rowId: string,
  fields: CustomerFields,
): Partial<typeof customers.$inferInsert> {
  const out: Partial<typeof customers.$inferInsert> = {};
  const seal = (value: string | null, column: CustomerPiiColumn) =>
    pii.cipher.encryptOptional(value, customerBinding(rowId, column));
  if (fields.name !== undefined) out.name = fields.name;
  if (fields.email !== undefined) {
    out.emailEnc = seal(fields.email, "email");
    Object.assign(
      out,
      fields.email === null
        ? { emailBidx: null, emailBidxNext: null }
        : emailIndexColumns(pii.blindIndex, fields.email),
    );
  }
  if (fields.phone !== undefined) out.phoneEnc = seal(fields.phone, "phone");
  if (fields.dateOfBirth !== undefined)
    out.dateOfBirthEnc = seal(fields.dateOfBirth, "date_of_birth");
  if (fields.taxId !== undefined) {
    out.taxIdEnc = seal(fields.taxId, "tax_id");
    out.taxIdLast4Enc = seal(fields.taxId === null ? null : fields.taxId.slice(-4), "tax_id_last4");
  }
  return out;
}

export async function insertCustomer(
  db: Database,
  pii: { cipher: FieldCipher; blindIndex: BlindIndex },
  values: {
    orgId: string;
    name: string;
    createdByUserId: string | null;
    createdByClientId: string | null;
  },
  fields: CustomerFields,
): Promise<CustomerRow> {
  const id = uuidv7();
  const [row] = await db
    .insert(customers)
    .values({ id, ...values, ...encryptCustomerFields(pii, id, fields) })
    .returning();
  return row!;
}
