import { asc, eq } from "drizzle-orm";
import type { Database } from "../db/client.js";
import { apiClients, organizations, users } from "../db/schema.js";
import { userBinding } from "../modules/users/users.repository.js";
import { type FieldCipher, PiiDecryptionError } from "./pii.js";

/*
 * Who can do what, per organization, for a periodic access review: each user's role and each API
 * client's scopes and state. Ids, display names and dates only; an email (encrypted at rest) is
 * decrypted only when a cipher is given, for a reviewer who cannot tell people apart otherwise.
 * No hash, secret or other personal field is ever read.
 */

export interface ReviewedUser {
  id: string;
  displayName: string;
  role: string;
  createdAt: string;
  lastLoginAt: string | null;
  email?: string;
}

export interface ReviewedApiClient {
  id: string;
  name: string;
  clientId: string;
  scopes: string[];
  state: "active" | "revoked";
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  createdByUserId: string | null;
}

export interface ReviewedOrganization {
  id: string;
  name: string;
  users: ReviewedUser[];
  apiClients: ReviewedApiClient[];
}

const ROLE_ORDER = ["ADMIN", "AUDITOR", "AGENT", "VIEWER"];
const iso = (date: Date | null) => (date ? date.toISOString() : null);

export async function reviewAccess(
  db: Database,
  options: { organizationId?: string | undefined; emailCipher?: FieldCipher | undefined } = {},
): Promise<ReviewedOrganization[]> {
  const { organizationId, emailCipher } = options;
  const orgs = await db
    .select({ id: organizations.id, name: organizations.name })
    .from(organizations)
    .where(organizationId ? eq(organizations.id, organizationId) : undefined)
    .orderBy(asc(organizations.name), asc(organizations.id));
  const userRows = await db
    .select({
      id: users.id,
      orgId: users.orgId,
      displayName: users.displayName,
      role: users.role,
      createdAt: users.createdAt,
      lastLoginAt: users.lastLoginAt,
      ...(emailCipher ? { emailEnc: users.emailEnc } : {}),
    })
    .from(users)
    .where(organizationId ? eq(users.orgId, organizationId) : undefined)
    .orderBy(asc(users.displayName), asc(users.id));
  const clientRows = await db
    .select({
      id: apiClients.id,
      orgId: apiClients.orgId,
      name: apiClients.name,
      clientId: apiClients.clientId,
      scopes: apiClients.scopes,
      createdAt: apiClients.createdAt,
      lastUsedAt: apiClients.lastUsedAt,
      revokedAt: apiClients.revokedAt,
      createdByUserId: apiClients.createdByUserId,
    })
    .from(apiClients)
    .where(organizationId ? eq(apiClients.orgId, organizationId) : undefined)
    .orderBy(asc(apiClients.name), asc(apiClients.id));

  const email = (row: { id: string; emailEnc?: string }): { email?: string } => {
    if (!emailCipher || row.emailEnc === undefined) return {};
    try {
      return { email: emailCipher.decrypt(row.emailEnc, userBinding(row.id, "email")) };
    } catch (error) {
      if (error instanceof PiiDecryptionError) return { email: "[undecryptable]" };
      throw error;
    }
  };

  return orgs.map((org) => ({
    id: org.id,
    name: org.name,
    users: userRows
      .filter((u) => u.orgId === org.id)
      .sort((a, b) => ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role))
      .map((u) => ({
        id: u.id,
        displayName: u.displayName,
        role: u.role,
        createdAt: u.createdAt.toISOString(),
        lastLoginAt: iso(u.lastLoginAt),
        ...email(u),
      })),
    apiClients: clientRows
      .filter((c) => c.orgId === org.id)
      .map((c) => ({
        id: c.id,
        name: c.name,
        clientId: c.clientId,
        scopes: [...c.scopes].sort(),
        state: c.revokedAt ? ("revoked" as const) : ("active" as const),
        createdAt: c.createdAt.toISOString(),
        lastUsedAt: iso(c.lastUsedAt),
        revokedAt: iso(c.revokedAt),
        createdByUserId: c.createdByUserId,
      })),
  }));
}
