import { and, asc, eq, gt, isNotNull, isNull, ne, or, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import {
  customerBinding,
  type CustomerPiiColumn,
} from "../modules/customers/customers.repository.js";
import {
  contactBinding,
  contactOfRow,
  STORED_CONTACT_COLUMNS,
  type StoredContact,
} from "../modules/customers/contact.js";
import { userBinding } from "../modules/users/users.repository.js";
import {
  type BlindIndex,
  type FieldCipher,
  type PiiBinding,
  PiiDecryptionError,
} from "../security/pii.js";
import type { Database } from "./client.js";
import { customers, users } from "./schema.js";

/*
 * Online key rotation of personal data (docs/personal-data.md). Every pass walks a table in id
 * order (keyset), one short transaction per batch: the batch's rows are locked (FOR UPDATE), so
 * a request writing the same row waits for the batch and then writes its own fresh value; a
 * request that wrote first is seen here and its value is already under the active key. Values
 * already done are skipped, so an interrupted run simply continues when started again.
 */

export const DEFAULT_BATCH_SIZE = 500;

type EncryptedTable = typeof users | typeof customers;
type Bind = (rowId: string) => PiiBinding;

interface EncryptedColumn {
  column: PgColumn;
  /** The property of the selected row (and of the update's set clause). */
  key: string;
  bind: Bind;
}

interface EncryptedTableSpec {
  name: "users" | "customers";
  table: EncryptedTable;
  columns: EncryptedColumn[];
}

const customerColumn = (column: PgColumn, key: string, name: CustomerPiiColumn) => ({
  column,
  key,
  bind: (rowId: string) => customerBinding(rowId, name),
});

/** Every encrypted column of the database, with the binding its values are sealed to. */
export const ENCRYPTED_TABLES: EncryptedTableSpec[] = [
  {
    name: "users",
    table: users,
    columns: [
      { column: users.emailEnc, key: "emailEnc", bind: (id) => userBinding(id, "email") },
      { column: users.phoneEnc, key: "phoneEnc", bind: (id) => userBinding(id, "phone") },
    ],
  },
  {
    name: "customers",
    table: customers,
    columns: [
      { column: customers.contactEnc, key: "contactEnc", bind: contactBinding },
      customerColumn(customers.taxIdEnc, "taxIdEnc", "tax_id"),
      // the legacy columns, while rows not converted to the envelope may still hold values
      customerColumn(customers.emailEnc, "emailEnc", "email"),
      customerColumn(customers.phoneEnc, "phoneEnc", "phone"),
      customerColumn(customers.dateOfBirthEnc, "dateOfBirthEnc", "date_of_birth"),
      customerColumn(customers.taxIdLast4Enc, "taxIdLast4Enc", "tax_id_last4"),
    ],
  },
];

/** A value that could not be decrypted: left as it is, reported by row and column only. */
export interface RotationFailure {
  table: string;
  column: string;
  rowId: string;
}

export interface RotationReport {
  /** Per table: rows changed and values re-encrypted in this run. */
  tables: Record<string, { rows: number; values: number }>;
  failures: RotationFailure[];
  /** Values still under another key after the run (0 unless some failed). */
  remaining: number;
}

export interface RotationOptions {
  batchSize?: number;
  /** Called (and awaited) after every committed batch: progress output of the command. */
  onBatch?: (table: string, rowsChanged: number) => void | Promise<void>;
}

const keyIdOfColumn = (column: PgColumn) => sql`split_part(${column}, '.', 2)`;

function staleCondition(spec: EncryptedTableSpec, activeKeyId: string) {
  return or(
    ...spec.columns.map(({ column }) =>
      and(isNotNull(column), ne(keyIdOfColumn(column), activeKeyId)),
    ),
  );
}

export type Row = Record<string, string | null> & { id: string };

/** A customer row walked with STORED_CONTACT_COLUMNS selected, as the contact code reads it. */
export const storedContactOf = (row: Row): StoredContact => ({
  id: row.id,
  contactEnc: row.contactEnc ?? null,
  emailEnc: row.emailEnc ?? null,
  phoneEnc: row.phoneEnc ?? null,
  dateOfBirthEnc: row.dateOfBirthEnc ?? null,
  taxIdLast4Enc: row.taxIdLast4Enc ?? null,
});

/**
 * Walks a table in id order, one transaction per batch of rows matching `where`, locking them
 * (`skipLocked`: leaving rows another walker holds to it); `apply` returns the changes of one
 * row (or undefined to leave it). Returns rows changed.
 */
export async function walkTable(
  db: Database,
  spec: {
    table: EncryptedTable;
    select: Record<string, PgColumn>;
    where: ReturnType<typeof or>;
    skipLocked?: boolean;
  },
  batchSize: number,
  apply: (row: Row) => Record<string, string | null> | undefined,
  onBatch: (rowsChanged: number) => void | Promise<void>,
): Promise<number> {
  const { table } = spec;
  let after: string | undefined;
  let changed = 0;
  for (;;) {
    const { seen, lastId, rowsChanged } = await db.transaction(async (tx) => {
      const rows = (await tx
        .select({ id: table.id, ...spec.select })
        .from(table)
        .where(and(after === undefined ? undefined : gt(table.id, after), spec.where))
        .orderBy(asc(table.id))
        .limit(batchSize)
        .for("update", spec.skipLocked ? { skipLocked: true } : {})) as Row[];
      let n = 0;
      for (const row of rows) {
        const changes = apply(row);
        if (!changes) continue;
        await tx.update(table).set(changes).where(eq(table.id, row.id));
        n++;
      }
      return { seen: rows.length, lastId: rows.at(-1)?.id, rowsChanged: n };
    });
    changed += rowsChanged;
    if (seen > 0) await onBatch(rowsChanged);
    if (seen < batchSize || lastId === undefined) return changed;
    after = lastId;
  }
}

/** Re-encrypts every personal-data value not under the cipher's active key. */
export async function rotateFieldKeys(
  db: Database,
  cipher: FieldCipher,
  options: RotationOptions = {},
): Promise<RotationReport> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const report: RotationReport = { tables: {}, failures: [], remaining: 0 };
  for (const spec of ENCRYPTED_TABLES) {
    let values = 0;
    const rows = await walkTable(
      db,
      {
        table: spec.table,
        select: Object.fromEntries(spec.columns.map((c) => [c.key, c.column])),
        where: staleCondition(spec, cipher.activeKeyId),
      },
      batchSize,
      (row) => {
        const changes: Record<string, string> = {};
        for (const { key, bind } of spec.columns) {
          const stored = row[key];
          if (stored == null || cipher.isUnderActiveKey(stored)) continue;
          try {
            changes[key] = cipher.encrypt(cipher.decrypt(stored, bind(row.id)), bind(row.id));
            values++;
          } catch (error) {
            if (!(error instanceof PiiDecryptionError)) throw error;
            report.failures.push({ table: spec.name, column: key, rowId: row.id });
          }
        }
        return Object.keys(changes).length > 0 ? changes : undefined;
      },
      (n) => options.onBatch?.(spec.name, n),
    );
    report.tables[spec.name] = { rows, values };
  }
  report.remaining = await countValuesNotUnder(db, cipher.activeKeyId);
  return report;
}

/** How many stored values are encrypted under a key other than `keyId`. */
export async function countValuesNotUnder(db: Database, keyId: string): Promise<number> {
  let total = 0;
  for (const spec of ENCRYPTED_TABLES) {
    for (const { column } of spec.columns) {
      const [row] = await db
        .select({ n: sql<number>`count(*)::int` })
        .from(spec.table)
        .where(and(isNotNull(column), ne(keyIdOfColumn(column), keyId)));
      total += row?.n ?? 0;
    }
  }
  return total;
}

/* Blind-index key rotation: the email_bidx_next columns, then the swap into email_bidx. */

interface EmailIndexedTable {
  name: "users" | "customers";
  table: EncryptedTable;
  /** The encrypted columns the email is read from. */
  select: Record<string, PgColumn>;
  /** The row's email (null when it has none); throws PiiDecryptionError. */
  emailOf: (cipher: FieldCipher, row: Row) => string | null;
  /** The column reported when emailOf fails. */
  column: string;
}

const EMAIL_INDEXED: EmailIndexedTable[] = [
  {
    name: "users",
    table: users,
    select: { emailEnc: users.emailEnc },
    emailOf: (cipher, row) => cipher.decrypt(row.emailEnc!, userBinding(row.id, "email")),
    column: "emailEnc",
  },
  {
    name: "customers",
    table: customers,
    select: STORED_CONTACT_COLUMNS,
    emailOf: (cipher, row) => contactOfRow(cipher, storedContactOf(row)).email,
    column: "contactEnc",
  },
];

export interface BlindIndexReport {
  tables: Record<string, { rows: number }>;
  failures: RotationFailure[];
  /** Rows whose step is still to do after the run (0 unless some failed). */
  remaining: number;
}

/**
 * Step 2 of a blind-index rotation: fills email_bidx_next under BLIND_INDEX_KEY_NEXT for every
 * row that lacks it (instances configured with the next key already fill it on every write).
 */
export async function backfillNextBlindIndex(
  db: Database,
  cipher: FieldCipher,
  blindIndex: BlindIndex,
  options: RotationOptions = {},
): Promise<BlindIndexReport> {
  if (!blindIndex.rotating) throw new Error("BLIND_INDEX_KEY_NEXT is not set");
  return walkEmailIndexes(db, cipher, options, "backfill", (email) => ({
    emailBidxNext: blindIndex.emailNext(email),
  }));
}

/**
 * Step 4, once every instance runs with the new key as BLIND_INDEX_KEY (and no
 * BLIND_INDEX_KEY_NEXT): moves each row's next index into email_bidx and clears email_bidx_next.
 * The index is recomputed from the decrypted email under the current key and must equal the
 * stored next index; a row where it does not (the wrong key configured) is left and reported.
 */
export async function finalizeBlindIndex(
  db: Database,
  cipher: FieldCipher,
  blindIndex: BlindIndex,
  options: RotationOptions = {},
): Promise<BlindIndexReport> {
  if (blindIndex.rotating) {
    throw new Error("unset BLIND_INDEX_KEY_NEXT and set BLIND_INDEX_KEY to the new key first");
  }
  return walkEmailIndexes(db, cipher, options, "finalize", (email, row) => {
    const current = blindIndex.email(email);
    return row.emailBidxNext === current ? { emailBidx: current, emailBidxNext: null } : undefined;
  });
}

async function walkEmailIndexes(
  db: Database,
  cipher: FieldCipher,
  options: RotationOptions,
  step: "backfill" | "finalize",
  change: (email: string, row: Row) => Record<string, string | null> | undefined,
): Promise<BlindIndexReport> {
  const report: BlindIndexReport = { tables: {}, failures: [], remaining: 0 };
  for (const spec of EMAIL_INDEXED) {
    const { table } = spec;
    const rows = await walkTable(
      db,
      {
        table,
        select: { ...spec.select, emailBidxNext: table.emailBidxNext },
        // a row has an email exactly when it has its blind index
        where: and(
          isNotNull(table.emailBidx),
          step === "backfill" ? isNull(table.emailBidxNext) : isNotNull(table.emailBidxNext),
        ),
      },
      options.batchSize ?? DEFAULT_BATCH_SIZE,
      (row) => {
        try {
          const email = spec.emailOf(cipher, row);
          const changes = email === null ? undefined : change(email, row);
          if (!changes)
            report.failures.push({ table: spec.name, column: "emailBidxNext", rowId: row.id });
          return changes;
        } catch (error) {
          if (!(error instanceof PiiDecryptionError)) throw error;
          report.failures.push({ table: spec.name, column: spec.column, rowId: row.id });
          return undefined;
        }
      },
      (n) => options.onBatch?.(spec.name, n),
    );
    report.tables[spec.name] = { rows };
    const [left] = await db
      .select({ n: sql<number>`count(*)::int` })
      .from(table)
      .where(
        and(
          isNotNull(table.emailBidx),
          step === "backfill" ? isNull(table.emailBidxNext) : isNotNull(table.emailBidxNext),
        ),
      );
    report.remaining += left?.n ?? 0;
  }
  return report;
}
