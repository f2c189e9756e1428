import { isNotNull, or } from "drizzle-orm";
import type { Logger } from "pino";
import {
  contactOfRow,
  NO_LEGACY_CONTACT,
  sealContact,
  STORED_CONTACT_COLUMNS,
} from "../modules/customers/contact.js";
import { type FieldCipher, PiiDecryptionError } from "../security/pii.js";
import type { Database } from "./client.js";
import { storedContactOf, walkTable } from "./pii-rotation.js";
import { customers } from "./schema.js";

/*
 * Start-up conversion of customers written before the contact envelope (docs/personal-data.md):
 * their per-field ciphertexts are decrypted, merged into contact_enc and cleared. Batches
 * lock their rows with SKIP LOCKED, so instances starting together share the rows instead of
 * converting one twice or waiting on each other; a converted row no longer matches, so running
 * it again does nothing. A row that fails to decrypt stays as it is and is logged by id.
 */

export const CONVERSION_BATCH_SIZE = 500;

export interface ConversionReport {
  converted: number;
  failed: number;
}

/** Also rows with an envelope: an instance of the previous release may have written since. */
const isLegacy = or(
  isNotNull(customers.emailEnc),
  isNotNull(customers.phoneEnc),
  isNotNull(customers.dateOfBirthEnc),
  isNotNull(customers.taxIdLast4Enc),
);

export async function convertLegacyContacts(
  db: Database,
  cipher: FieldCipher,
  logger: Logger,
  batchSize = CONVERSION_BATCH_SIZE,
): Promise<ConversionReport> {
  const report: ConversionReport = { converted: 0, failed: 0 };
  report.converted = await walkTable(
    db,
    { table: customers, select: STORED_CONTACT_COLUMNS, where: isLegacy, skipLocked: true },
    batchSize,
    (row) => {
      try {
        const contactEnc = sealContact(cipher, row.id, contactOfRow(cipher, storedContactOf(row)));
        return { ...NO_LEGACY_CONTACT, contactEnc };
      } catch (error) {
        if (!(error instanceof PiiDecryptionError)) throw error;
        const { table, column, rowId } = error.binding;
        logger.warn({ table, column, rowId }, "legacy contact not converted: undecryptable");
        report.failed++;
        return undefined;
      }
    },
    () => undefined,
  );
  if (report.converted > 0 || report.failed > 0) {
    logger.info(report, "legacy customer contacts converted to envelopes");
  }
  return report;
}
