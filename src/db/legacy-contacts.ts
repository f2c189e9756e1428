import { and, asc, eq, gt, isNotNull, or } from "drizzle-orm";
import type { Logger } from "pino";
import { contactOfRow, NO_LEGACY_CONTACT, sealContact } from "../modules/customers/contact.js";
import { type FieldCipher, PiiDecryptionError } from "../security/pii.js";
import type { Database } from "./client.js";
import { customers } from "./schema.js";

/*
 * Start-up conversion of customers written before the contact envelope (README "Personal
 * data"): their per-field ciphertexts are decrypted, merged into contact_enc and cleared. Batches
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
  let after: string | undefined;
  for (;;) {
    const { seen, lastId } = await db.transaction(async (tx) => {
      const rows = await tx
        .select({
          id: customers.id,
          contactEnc: customers.contactEnc,
          emailEnc: customers.emailEnc,
          phoneEnc: customers.phoneEnc,
          dateOfBirthEnc: customers.dateOfBirthEnc,
          taxIdLast4Enc: customers.taxIdLast4Enc,
        })
        .from(customers)
        .where(and(isLegacy, after === undefined ? undefined : gt(customers.id, after)))
        .orderBy(asc(customers.id))
        .limit(batchSize)
        .for("update", { skipLocked: true });
      for (const row of rows) {
        let contactEnc: string | null;
        try {
          contactEnc = sealContact(cipher, row.id, contactOfRow(cipher, row));
        } catch (error) {
          if (!(error instanceof PiiDecryptionError)) throw error;
          const { table, column, rowId } = error.binding;
          logger.warn({ table, column, rowId }, "legacy contact not converted: undecryptable");
          report.failed++;
          continue;
        }
        await tx
          .update(customers)
          .set({ ...NO_LEGACY_CONTACT, contactEnc })
          .where(and(eq(customers.id, row.id), isLegacy));
        report.converted++;
      }
      return { seen: rows.length, lastId: rows.at(-1)?.id };
    });
    if (seen < batchSize || lastId === undefined) break;
    after = lastId;
  }
  if (report.converted > 0 || report.failed > 0) {
    logger.info(report, "legacy customer contacts converted to envelopes");
  }
  return report;
}
