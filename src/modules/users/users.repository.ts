import { and, asc, count, eq, gt } from "drizzle-orm";
import { uuidv7 } from "../../db/uuidv7.js";
import { emailIndexColumns, emailIndexMatches } from "../../db/blind-index.js";
import type { Database } from "../../db/client.js";
import { type Role, type UserRow, users } from "../../db/schema.js";
import type { Page } from "../../graphql/pagination.js";
import type { BlindIndex, FieldCipher } from "../../security/pii.js";

export interface NewUser {
  orgId: string;
  displayName: string;
  email: string;
  phone?: string | null | undefined;
  role: Role;
  passwordHash: string;
}

/** Thrown when the email's blind index is already taken. */
export class EmailTakenError extends Error {
  override name = "EmailTakenError";
}

export const userBinding = (rowId: string, column: "email" | "phone") => ({
  table: "users",
  column,
  rowId,
});

export async function insertUser(
  db: Database,
  pii: { cipher: FieldCipher; blindIndex: BlindIndex },
  input: NewUser,
): Promise<UserRow> {
  const id = uuidv7();
  const [row] = await db
    .insert(users)
    .values({
      id,
      orgId: input.orgId,
      displayName: input.displayName,
      role: input.role,
      emailEnc: pii.cipher.encrypt(input.email, userBinding(id, "email")),
      ...emailIndexColumns(pii.blindIndex, input.email),
      phoneEnc: pii.cipher.encryptOptional(input.phone, userBinding(id, "phone")),
      passwordHash: input.passwordHash,
    })
    // Any unique violation here is the email's (the id is new): see the indexes on users.
    .onConflictDoNothing()
    .returning();
  if (!row) throw new EmailTakenError();
  return row;
}

/** The user with this email, found by blind index (nothing is decrypted). */
export async function findUserByEmail(
  db: Database,
  blindIndex: BlindIndex,
  email: string,
): Promise<UserRow | undefined> {
  const [row] = await db
    .select()
    .from(users)
    .where(
      emailIndexMatches(blindIndex, { current: users.emailBidx, next: users.emailBidxNext }, email),
    )
    .limit(1);
  return row;
}

export function findUsersPage(db: Database, orgId: string, page: Page): Promise<UserRow[]> {
  return db
    .select()
    .from(users)
    .where(and(eq(users.orgId, orgId), page.afterId ? gt(users.id, page.afterId) : undefined))
    .orderBy(asc(users.id))
    .limit(page.limit + 1);
}

export async function countUsers(db: Database, orgId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(users).where(eq(users.orgId, orgId));
  return row?.n ?? 0;
}
