import { and, eq, isNull } from "drizzle-orm";
import { uuidv7 } from "../../db/uuidv7.js";
import type { Database } from "../../db/client.js";
import { type RefreshTokenRow, refreshTokens } from "../../db/schema.js";
import { hashOpaqueSecret, newOpaqueSecret } from "../../security/tokens.js";

/*
 * Refresh sessions (OAuth 2.0 Security BCP, refresh token rotation): each use of a refresh token
 * returns a new one of the same family and retires the old. A retired token presented again
 * means it was copied, so the whole family is revoked: the thief's and the victim's tokens die.
 */

/** A refresh token just issued, and the family (session) it belongs to. */
export interface IssuedRefreshToken {
  refreshToken: string;
  familyId: string;
}

export type RefreshOutcome =
  | { ok: true; session: RefreshTokenRow; issued: IssuedRefreshToken }
  | { ok: false; reason: "unknown" | "expired" | "revoked" | "reused" };

export async function startSession(
  db: Database,
  user: { id: string; orgId: string },
  ttlSeconds: number,
  familyId: string = uuidv7(),
): Promise<IssuedRefreshToken> {
  const refreshToken = newOpaqueSecret("rt");
  await db.insert(refreshTokens).values({
    id: uuidv7(),
    orgId: user.orgId,
    userId: user.id,
    familyId,
    tokenHash: hashOpaqueSecret(refreshToken),
    expiresAt: new Date(Date.now() + ttlSeconds * 1000),
  });
  return { refreshToken, familyId };
}

export async function rotateSession(
  db: Database,
  presented: string,
  ttlSeconds: number,
): Promise<RefreshOutcome> {
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, hashOpaqueSecret(presented)))
      .for("update");
    if (!current) return { ok: false, reason: "unknown" };
    if (current.revokedAt) return { ok: false, reason: "revoked" };
    if (current.usedAt) {
      await revokeFamilyIn(tx, current.familyId);
      return { ok: false, reason: "reused" };
    }
    if (current.expiresAt.getTime() <= Date.now()) return { ok: false, reason: "expired" };
    await tx
      .update(refreshTokens)
      .set({ usedAt: new Date() })
      .where(eq(refreshTokens.id, current.id));
    const issued = await startSession(
      tx,
      { id: current.userId, orgId: current.orgId },
      ttlSeconds,
      current.familyId,
    );
    return { ok: true, session: current, issued };
  });
}

function revokeFamilyIn(db: Database, familyId: string) {
  return db
    .update(refreshTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)));
}

/** logOut: the family of the presented token ends, whoever holds its other members. */
export async function endSession(db: Database, presented: string): Promise<void> {
  const [row] = await db
    .select({ familyId: refreshTokens.familyId })
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, hashOpaqueSecret(presented)));
  if (row) await revokeFamilyIn(db, row.familyId);
}

export async function endAllSessions(db: Database, userId: string): Promise<void> {
  await db
    .update(refreshTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)));
}
