import { and, eq, isNotNull, isNull } from "drizzle-orm";
import { uuidv7 } from "../../db/uuidv7.js";
import type { Database } from "../../db/client.js";
import { type RefreshTokenRow, refreshTokens, users } from "../../db/schema.js";
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

/**
 * Exchanges a refresh token for the next one of its family. The user's row is locked (shared)
 * first, as changePassword locks it before ending every session: the two take their locks in
 * the same order, so a password change either sees the new token and ends it, or comes first
 * and leaves this token revoked. (Without it, the new token was inserted after a concurrent
 * change had chosen which tokens to end, and outlived the password.)
 */
export async function rotateSession(
  db: Database,
  presented: string,
  ttlSeconds: number,
): Promise<RefreshOutcome> {
  const tokenHash = hashOpaqueSecret(presented);
  return db.transaction(async (tx) => {
    const [owner] = await tx
      .select({ userId: refreshTokens.userId })
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, tokenHash));
    if (!owner) return { ok: false, reason: "unknown" };
    const [user] = await tx
      .select({ id: users.id })
      .from(users)
      .where(eq(users.id, owner.userId))
      .for("share");
    const [current] = await tx
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, tokenHash))
      .for("update");
    if (!user || !current) return { ok: false, reason: "unknown" };
    if (current.revokedAt || (await familyEnded(tx, current.familyId))) {
      return { ok: false, reason: "revoked" };
    }
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

/** Whether any token of the family has been revoked (the session was ended). */
async function familyEnded(db: Database, familyId: string): Promise<boolean> {
  const [revoked] = await db
    .select({ id: refreshTokens.id })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.familyId, familyId), isNotNull(refreshTokens.revokedAt)))
    .limit(1);
  return revoked !== undefined;
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
