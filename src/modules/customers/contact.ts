import { type CustomerRow, customers } from "../../db/schema.js";
import { type FieldCipher, type PiiBinding, PiiDecryptionError } from "../../security/pii.js";

/*
 * A customer's contact data is one envelope: a single ciphertext (contact_enc) of the JSON
 * { email, phone, dateOfBirth, taxIdLast4 }, bound to the row like every other value. Decrypting
 * costs about the same whatever the size, so one envelope per row makes a page of customers cost
 * one decryption per row instead of one per field. The full tax id stays in tax_id_enc.
 */

export interface Contact {
  email: string | null;
  phone: string | null;
  dateOfBirth: string | null;
  taxIdLast4: string | null;
}

export const CONTACT_FIELDS = ["email", "phone", "dateOfBirth", "taxIdLast4"] as const;

export const EMPTY_CONTACT: Contact = {
  email: null,
  phone: null,
  dateOfBirth: null,
  taxIdLast4: null,
};

export const contactBinding = (rowId: string): PiiBinding => ({
  table: "customers",
  column: "contact",
  rowId,
});

/** The legacy per-field columns of a contact, with the column name each value was bound to. */
export const LEGACY_CONTACT_COLUMNS = [
  { field: "email", key: "emailEnc", column: "email" },
  { field: "phone", key: "phoneEnc", column: "phone" },
  { field: "dateOfBirth", key: "dateOfBirthEnc", column: "date_of_birth" },
  { field: "taxIdLast4", key: "taxIdLast4Enc", column: "tax_id_last4" },
] as const;

export type LegacyContactColumns = Pick<
  CustomerRow,
  (typeof LEGACY_CONTACT_COLUMNS)[number]["key"]
>;

/** The columns a contact is read from: the envelope and, until they are dropped, the legacy ones. */
export const STORED_CONTACT_COLUMNS = {
  contactEnc: customers.contactEnc,
  emailEnc: customers.emailEnc,
  phoneEnc: customers.phoneEnc,
  dateOfBirthEnc: customers.dateOfBirthEnc,
  taxIdLast4Enc: customers.taxIdLast4Enc,
};

export type StoredContact = Pick<CustomerRow, "id" | "contactEnc"> & LegacyContactColumns;

/** The stored envelope, or null when the customer has no contact data at all. */
export function sealContact(cipher: FieldCipher, rowId: string, contact: Contact): string | null {
  if (CONTACT_FIELDS.every((field) => contact[field] === null)) return null;
  const plain: Contact = {
    email: contact.email,
    phone: contact.phone,
    dateOfBirth: contact.dateOfBirth,
    taxIdLast4: contact.taxIdLast4,
  };
  return cipher.encrypt(JSON.stringify(plain), contactBinding(rowId));
}

const isContact = (value: unknown): value is Contact =>
  typeof value === "object" &&
  value !== null &&
  CONTACT_FIELDS.every((field) => {
    const v = (value as Record<string, unknown>)[field];
    return v === null || typeof v === "string";
  });

/** Throws PiiDecryptionError when the envelope fails to decrypt or is not a contact. */
export function openContact(cipher: FieldCipher, rowId: string, stored: string | null): Contact {
  if (stored === null) return EMPTY_CONTACT;
  const binding = contactBinding(rowId);
  const plain = cipher.decrypt(stored, binding);
  let parsed: unknown;
  try {
    parsed = JSON.parse(plain);
  } catch {
    throw new PiiDecryptionError(binding);
  }
  if (!isContact(parsed)) throw new PiiDecryptionError(binding);
  return parsed;
}

export const hasLegacyContact = (row: LegacyContactColumns): boolean =>
  LEGACY_CONTACT_COLUMNS.some(({ key }) => row[key] !== null);

/** A contact from the legacy per-field ciphertexts; throws PiiDecryptionError naming the column. */
export function openLegacyContact(
  cipher: FieldCipher,
  rowId: string,
  row: LegacyContactColumns,
): Contact {
  const contact: Contact = { ...EMPTY_CONTACT };
  for (const { field, key, column } of LEGACY_CONTACT_COLUMNS) {
    contact[field] = cipher.decryptOptional(row[key], { table: "customers", column, rowId });
  }
  return contact;
}

/**
 * The contact of a stored row: its envelope, overlaid with any legacy value. Legacy values next
 * to an envelope can only come from an instance of the previous release writing during a
 * rolling deploy, so they are the newer ones (a field it cleared is not seen: it writes null).
 */
export function contactOfRow(cipher: FieldCipher, row: StoredContact): Contact {
  const contact = openContact(cipher, row.id, row.contactEnc);
  if (!hasLegacyContact(row)) return contact;
  const legacy = openLegacyContact(cipher, row.id, row);
  return {
    email: legacy.email ?? contact.email,
    phone: legacy.phone ?? contact.phone,
    dateOfBirth: legacy.dateOfBirth ?? contact.dateOfBirth,
    taxIdLast4: legacy.taxIdLast4 ?? contact.taxIdLast4,
  };
}

/** The legacy columns cleared, for every write of an envelope. */
export const NO_LEGACY_CONTACT: LegacyContactColumns = {
  emailEnc: null,
  phoneEnc: null,
  dateOfBirthEnc: null,
  taxIdLast4Enc: null,
};
