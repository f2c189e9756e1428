import { createApiClient, type PartnerClient } from "./api-clients.js";
import { ROLES, type RoleName, type Tenant } from "./fixtures.js";

/*
 * ACCESS.md's field matrix, transcribed by hand (not derived from the implementation's policy
 * table), so that tests check the two against each other.
 */

type Cell = boolean | "self";
export interface Access {
  roles: Record<RoleName, Cell>;
  /** The scope an API client needs, "any scope", or null when no client may. */
  client: string | null;
}
const Y = true;
const N = false;
const row = (
  ADMIN: Cell,
  AGENT: Cell,
  VIEWER: Cell,
  AUDITOR: Cell,
  client: string | null,
): Access => ({ roles: { ADMIN, AGENT, VIEWER, AUDITOR }, client });

export const NOTE_FIELDS = ["id", "body", "private", "author", "customer", "createdAt"];
export const AUDIT_FIELDS = [
  "id",
  "at",
  "actorType",
  "actorId",
  "operationType",
  "operationName",
  "outcome",
  "errorCodes",
  "sensitiveFields",
  "deniedFields",
  "ip",
  "requestId",
  "durationMs",
];
export const API_CLIENT_FIELDS = [
  "id",
  "name",
  "clientId",
  "scopes",
  "createdAt",
  "lastUsedAt",
  "revokedAt",
];
export const CUSTOMER_BASE = ["id", "name", "createdAt", "updatedAt", "createdBy"];
export const CUSTOMER_PII = ["email", "phone", "dateOfBirth", "taxIdLast4"];
export const USER_BASE = ["id", "displayName", "role", "createdAt"];

export const ACCESS: Record<string, Access> = {};
const rows = (coordinates: string[], access: Access) => {
  for (const c of coordinates) ACCESS[c] = access;
};
const on = (type: string, fields: string[]) => fields.map((f) => `${type}.${f}`);
rows(["Query.me"], row(Y, Y, Y, Y, null));
rows(
  ["Query.organization", ...on("Organization", ["id", "name", "createdAt"])],
  row(Y, Y, Y, Y, "any scope"),
);
rows(["Query.users", "Query.user", ...on("User", USER_BASE)], row(Y, Y, Y, Y, "users:read"));
rows(on("User", ["email", "phone"]), row(Y, "self", "self", "self", null));
rows(["User.lastLoginAt"], row(Y, "self", "self", Y, null));
rows(
  ["Query.customers", "Query.customer", ...on("Customer", CUSTOMER_BASE)],
  row(Y, Y, Y, Y, "customers:read"),
);
rows(on("Customer", CUSTOMER_PII), row(Y, Y, N, N, "customers:pii"));
rows(["Customer.taxId"], row(Y, N, N, N, null));
rows(["Customer.notes", ...on("Note", NOTE_FIELDS)], row(Y, Y, Y, N, null));
rows(["Query.auditEvents", ...on("AuditEvent", AUDIT_FIELDS)], row(Y, N, N, Y, "audit:read"));
rows(["Query.apiClients", ...on("ApiClient", API_CLIENT_FIELDS)], row(Y, N, N, N, null));
rows(on("Mutation", ["createUser", "setUserRole"]), row(Y, N, N, N, null));
rows(on("Mutation", ["createCustomer", "updateCustomer"]), row(Y, Y, N, N, "customers:write"));
rows(["Mutation.deleteCustomer"], row(Y, N, N, N, null));
rows(["Mutation.addNote"], row(Y, Y, N, N, null));
rows(on("Mutation", ["createApiClient", "revokeApiClient"]), row(Y, N, N, N, null));
rows(on("Mutation", ["updateMe", "changePassword"]), row(Y, Y, Y, Y, null));

export interface Caller {
  name: string;
  token?: string;
  role?: RoleName;
  userId?: string;
  scopes?: string[];
}

/** Each scope alone, and the pairs a partner needs to reach PII and users through customers. */
export const CLIENT_SCOPE_SETS = [
  ["customers:read"],
  ["customers:write"],
  ["customers:pii"],
  ["users:read"],
  ["audit:read"],
  ["customers:read", "customers:pii"],
  ["customers:read", "users:read"],
];

export function allows(caller: Caller, coordinate: string, own: boolean): boolean {
  const access = ACCESS[coordinate];
  if (!access) throw new Error(`${coordinate} is not in the transcribed matrix`);
  if (caller.role) {
    const cell = access.roles[caller.role];
    return cell === "self" ? own : cell;
  }
  if (caller.scopes) {
    if (access.client === "any scope") return true;
    return access.client !== null && caller.scopes.includes(access.client);
  }
  return false; // anonymous
}

/** Setting up a tenant and its callers takes dozens of requests: slow on a busy machine. */
export const SETUP_TIMEOUT_MS = 180_000;

/** The tenant's four role members and one API client per scope set, as callers. */
export async function callersOf(url: string, tenant: Tenant): Promise<Caller[]> {
  const clients: PartnerClient[] = await Promise.all(
    CLIENT_SCOPE_SETS.map((scopes) => createApiClient(url, tenant.members.ADMIN.token, scopes)),
  );
  return [
    ...ROLES.map((role) => ({
      name: role,
      role,
      token: tenant.members[role].token,
      userId: tenant.members[role].id,
    })),
    ...clients.map((c) => ({
      name: `client ${c.scopes.join("+")}`,
      token: c.token,
      scopes: c.scopes,
    })),
  ];
}

export const ANONYMOUS_CALLER: Caller = { name: "anonymous" };

/**
 * How a field is refused to a caller (BEHAVIOUR.md): FORBIDDEN to a signed-in principal,
 * UNAUTHENTICATED to an anonymous caller (so that an SPA knows to ask its user to sign in).
 */
export const denialOf = (caller: Caller): { message: string; code: string } =>
  caller.token === undefined
    ? { message: "Authentication required", code: "UNAUTHENTICATED" }
    : { message: "Not authorized", code: "FORBIDDEN" };
