import type { NodeType } from "../../graphql/ids.js";
import { ALL_ROLES, type FieldPolicy, type Grant } from "./access.js";

/*
 * The access policy of ACCESS.md as one table: every field of every object type of the schema,
 * and who may use it. The graphql-shield rules, the "Requires: …" sentence of each field's
 * description and schema/permissions.md are all derived from this table, so they cannot
 * disagree. A field missing here is denied (shield's fallback) and fails the coverage test.
 */

const grant = (g: Grant, args?: Readonly<Record<string, Grant>>): FieldPolicy =>
  args ? { kind: "grant", grant: g, arguments: args } : { kind: "grant", grant: g };
const PUBLIC: FieldPolicy = { kind: "public" };
const STRUCTURAL: FieldPolicy = { kind: "structural" };

/** The same policy for each named field (names are listed, never "*": a new field must be placed). */
const each = (names: readonly string[], policy: FieldPolicy): Record<string, FieldPolicy> =>
  Object.fromEntries(names.map((name) => [name, policy]));

const signedInUser = grant({ roles: ALL_ROLES });
const organizationReader = grant({ roles: ALL_ROLES, scopes: "any" });
const userLister = grant({ roles: ALL_ROLES, scopes: ["users:read"] });
const userReader = grant({ roles: ALL_ROLES, scopes: ["users:read"], self: true });
const userContact = grant({ roles: ["ADMIN"], self: true });
const userLastLogin = grant({ roles: ["ADMIN", "AUDITOR"], self: true });
const customerReaderGrant: Grant = { roles: ALL_ROLES, scopes: ["customers:read"] };
const customerReader = grant(customerReaderGrant);
const customerPiiGrant: Grant = { roles: ["ADMIN", "AGENT"], scopes: ["customers:pii"] };
const customerPii = grant(customerPiiGrant);
const customerWriter = grant({ roles: ["ADMIN", "AGENT"], scopes: ["customers:write"] });
const noteReader = grant({ roles: ["ADMIN", "AGENT", "VIEWER"] });
const noteWriter = grant({ roles: ["ADMIN", "AGENT"] });
const auditReader = grant({ roles: ["ADMIN", "AUDITOR"], scopes: ["audit:read"] });
const adminOnly = grant({ roles: ["ADMIN"] });

const connection = each(["edges", "nodes", "pageInfo", "totalCount"], STRUCTURAL);
const edge = each(["cursor", "node"], STRUCTURAL);

export const POLICY: Readonly<Record<string, Readonly<Record<string, FieldPolicy>>>> = {
  Query: {
    me: signedInUser,
    organization: organizationReader,
    node: { kind: "node" },
    user: userLister,
    users: userLister,
    customer: customerReader,
    // The email filter is an exact-match oracle on Customer.email: only its readers may use it.
    customers: grant(customerReaderGrant, { "filter.email": customerPiiGrant }),
    auditEvents: auditReader,
    auditCheckpoint: auditReader,
    apiClients: adminOnly,
  },
  Mutation: {
    ...each(["signUp", "logIn", "refreshSession", "logOut", "issueClientToken"], PUBLIC),
    ...each(["changePassword", "updateMe"], signedInUser),
    ...each(["createUser", "setUserRole"], adminOnly),
    ...each(["createCustomer", "updateCustomer"], customerWriter),
    deleteCustomer: adminOnly,
    addNote: noteWriter,
    ...each(["createApiClient", "revokeApiClient"], adminOnly),
  },
  Organization: each(["id", "name", "createdAt"], organizationReader),
  User: {
    ...each(["id", "displayName", "role", "createdAt"], userReader),
    ...each(["email", "phone"], userContact),
    lastLoginAt: userLastLogin,
  },
  Customer: {
    ...each(["id", "name", "createdAt", "updatedAt", "createdBy"], customerReader),
    ...each(["email", "phone", "dateOfBirth", "taxIdLast4"], customerPii),
    taxId: adminOnly,
    notes: noteReader,
  },
  Note: each(["id", "body", "private", "author", "customer", "createdAt"], noteReader),
  AuditEvent: each(
    [
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
    ],
    auditReader,
  ),
  AuditCheckpoint: each(
    ["seq", "hash", "at", "previous", "keyId", "signature", "line", "publicKey"],
    auditReader,
  ),
  ApiClient: each(
    ["id", "name", "clientId", "scopes", "createdAt", "lastUsedAt", "revokedAt"],
    adminOnly,
  ),
  // What the public mutations return is read by their (anonymous) caller; AuthPayload.user is
  // then "self" for that caller (see markOwnUser).
  AuthPayload: each(["accessToken", "refreshToken", "expiresIn", "user"], PUBLIC),
  ClientTokenPayload: each(["accessToken", "expiresIn", "scopes"], PUBLIC),
  ApiClientSecretPayload: each(["client", "clientSecret"], adminOnly),
  UserConnection: connection,
  UserEdge: edge,
  CustomerConnection: connection,
  CustomerEdge: edge,
  NoteConnection: connection,
  NoteEdge: edge,
  AuditEventConnection: connection,
  AuditEventEdge: edge,
  PageInfo: each(["hasNextPage", "endCursor"], STRUCTURAL),
};

/**
 * Query.node serves each type under the rule of its typed entry field, so node(id) reveals
 * nothing the typed field would not (the object's own fields are then checked as usual).
 */
export const NODE_ENTRY_FIELDS: Readonly<Record<NodeType, readonly [string, string]>> = {
  Organization: ["Query", "organization"],
  User: ["Query", "user"],
  Customer: ["Query", "customer"],
  Note: ["Customer", "notes"],
  AuditEvent: ["Query", "auditEvents"],
  ApiClient: ["Query", "apiClients"],
};

export function policyOf(typeName: string, fieldName: string): FieldPolicy | undefined {
  return POLICY[typeName]?.[fieldName];
}

/** The grant that decides node(id) for an object of this type. */
export function nodeGrant(type: NodeType): Grant {
  const [typeName, fieldName] = NODE_ENTRY_FIELDS[type];
  const policy = policyOf(typeName, fieldName);
  if (policy?.kind !== "grant") throw new Error(`${typeName}.${fieldName} has no grant`);
  return policy.grant;
}
