import { beforeAll, describe, expect, it } from "vitest";
import { createApiClient, type PartnerClient } from "../support/api-clients.js";
import {
  createCustomer,
  createTenant,
  logIn,
  PASSWORD,
  ROLES,
  type RoleName,
  type Tenant,
  uniqueEmail,
} from "../support/fixtures.js";
import { dataOf, gql, type GraphQLResponse } from "../support/graphql.js";
import { sharedTestServer } from "../support/server.js";
import { ensureAuditEvent } from "../support/audit-events.js";

/*
 * Every cell of ACCESS.md's field matrix, for every principal, over HTTP. The matrix below is
 * ACCESS.md transcribed by hand (not derived from the implementation's policy table), so the
 * two are checked against each other.
 */

type Cell = boolean | "self";
interface Access {
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

const NOTE_FIELDS = ["id", "body", "private", "author", "customer", "createdAt"];
const AUDIT_FIELDS = [
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
const API_CLIENT_FIELDS = [
  "id",
  "name",
  "clientId",
  "scopes",
  "createdAt",
  "lastUsedAt",
  "revokedAt",
];
const CUSTOMER_BASE = ["id", "name", "createdAt", "updatedAt", "createdBy"];
const CUSTOMER_PII = ["email", "phone", "dateOfBirth", "taxIdLast4"];
const USER_BASE = ["id", "displayName", "role", "createdAt"];

const ACCESS: Record<string, Access> = {};
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

interface Caller {
  name: string;
  token?: string;
  role?: RoleName;
  userId?: string;
  scopes?: string[];
}

/** Each scope alone, and the pairs a partner needs to reach PII and users through customers. */
const CLIENT_SCOPE_SETS = [
  ["customers:read"],
  ["customers:write"],
  ["customers:pii"],
  ["users:read"],
  ["audit:read"],
  ["customers:read", "customers:pii"],
  ["customers:read", "users:read"],
];

function allows(caller: Caller, coordinate: string, own: boolean): boolean {
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

type Path = (string | number)[];
interface Step {
  coordinate: string;
  path: Path;
}
interface Probe {
  name: string;
  query: string;
  steps: Step[];
  /** Whether a User row on the way is the caller's own (for "self" cells). */
  own?: (caller: Caller) => boolean;
  /** Which callers this probe applies to (default: all). */
  for?: (caller: Caller) => boolean;
}

function valueAt(data: unknown, path: Path): unknown {
  let value: unknown = data;
  for (const key of path) {
    if (value === null || value === undefined) return value;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

/** The first step the caller may not take (its full path), or undefined when all are allowed. */
function deniedAt(probe: Probe, caller: Caller): Path | undefined {
  const path: Path = [];
  for (const step of probe.steps) {
    path.push(...step.path);
    const own = step.coordinate.startsWith("User.") && (probe.own?.(caller) ?? false);
    if (!allows(caller, step.coordinate, own)) return [...path];
  }
  return undefined;
}

function expectDenied(res: GraphQLResponse, path: Path, label: string) {
  expect(res.status, label).toBe(200);
  const errors = (res.body.errors ?? []).map((e) => ({
    message: e.message,
    path: e.path,
    code: e.extensions?.code,
  }));
  expect(errors, label).toEqual([{ message: "Not authorized", path, code: "FORBIDDEN" }]);
  expect(valueAt(res.body.data, path), label).toBeNull();
}

function expectAllowed(res: GraphQLResponse, path: Path, label: string) {
  expect(res.body.errors, label).toBeUndefined();
  expect(valueAt(res.body.data, path), label).not.toBeUndefined();
}

// ----------------------------------------------------------------------------------------------

let url: string;
let tenant: Tenant;
let other: Tenant;
let callers: Caller[];
let anonymous: Caller;
let customerId: string;
/** A VIEWER who is never a caller: "someone else's" User row for every caller. */
let bystander: { id: string; email: string };
const variables = (caller: Caller) => ({
  c: customerId,
  other: bystander.id,
  self: caller.userId ?? bystander.id,
});

beforeAll(async () => {
  ({ url } = await sharedTestServer());
  [tenant, other] = await Promise.all([createTenant(url, "matrix"), createTenant(url, "other")]);
  const admin = tenant.members.ADMIN.token;
  customerId = (await createCustomer(url, admin, { name: "Matrix Customer" })).id;
  const note = (body: string, isPrivate: boolean) =>
    gql(
      url,
      `mutation($c: ID!, $b: String!, $p: Boolean) { addNote(customerId: $c, body: $b, private: $p) { id } }`,
      { c: customerId, b: body, p: isPrivate },
      { token: tenant.members.AGENT.token },
    ).then(dataOf);
  await note("a public note", false);
  const bystanderEmail = uniqueEmail("bystander");
  const created = dataOf(
    await gql(
      url,
      `mutation($input: CreateUserInput!) { createUser(input: $input) { id } }`,
      {
        input: {
          displayName: "Bystander",
          email: bystanderEmail,
          password: PASSWORD,
          role: "VIEWER",
          phone: "+14155550100",
        },
      },
      { token: admin },
    ),
  ).createUser as { id: string };
  bystander = { id: created.id, email: bystanderEmail };
  await logIn(url, bystanderEmail); // so lastLoginAt has a value
  const clients: PartnerClient[] = [];
  for (const scopes of CLIENT_SCOPE_SETS) clients.push(await createApiClient(url, admin, scopes));
  await ensureAuditEvent(url, admin, tenant);
  callers = [
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
  anonymous = { name: "anonymous" };
});

// ----------------------------------------------------------------------------------------------

const probes: Probe[] = [];
const step = (coordinate: string, ...path: Path): Step => ({ coordinate, path });

probes.push({ name: "Query.me", query: `{ me { __typename } }`, steps: [step("Query.me", "me")] });
probes.push({
  name: "Query.organization",
  query: `{ organization { __typename } }`,
  steps: [step("Query.organization", "organization")],
});
for (const f of ["id", "name", "createdAt"]) {
  probes.push({
    name: `Organization.${f}`,
    query: `{ organization { ${f} } }`,
    steps: [step("Query.organization", "organization"), step(`Organization.${f}`, f)],
  });
}
probes.push({
  name: "Query.users",
  query: `{ users(first: 5) { totalCount nodes { __typename } } }`,
  steps: [step("Query.users", "users")],
});
probes.push({
  name: "Query.user",
  query: `query($other: ID!) { user(id: $other) { __typename } }`,
  steps: [step("Query.user", "user")],
});
for (const f of [...USER_BASE, "email", "phone", "lastLoginAt"]) {
  probes.push({
    name: `User.${f} of another user`,
    query: `query($other: ID!) { user(id: $other) { ${f} } }`,
    steps: [step("Query.user", "user"), step(`User.${f}`, f)],
    own: () => false,
  });
  probes.push({
    name: `User.${f} of the caller's own User`,
    query: `query($self: ID!) { user(id: $self) { ${f} } }`,
    steps: [step("Query.user", "user"), step(`User.${f}`, f)],
    own: () => true,
    for: (caller) => caller.userId !== undefined,
  });
}
probes.push({
  name: "Query.customers",
  query: `{ customers(first: 5) { totalCount nodes { __typename } } }`,
  steps: [step("Query.customers", "customers")],
});
probes.push({
  name: "Query.customer",
  query: `query($c: ID!) { customer(id: $c) { __typename } }`,
  steps: [step("Query.customer", "customer")],
});
for (const f of [...CUSTOMER_BASE, ...CUSTOMER_PII, "taxId", "notes"]) {
  const selection =
    f === "createdBy" ? "createdBy { __typename }" : f === "notes" ? "notes { totalCount }" : f;
  probes.push({
    name: `Customer.${f}`,
    query: `query($c: ID!) { customer(id: $c) { ${selection} } }`,
    steps: [step("Query.customer", "customer"), step(`Customer.${f}`, f)],
  });
  probes.push({
    name: `Customer.${f} in a list`,
    query: `{ customers(first: 5) { edges { node { ${selection} } } } }`,
    steps: [step("Query.customers", "customers"), step(`Customer.${f}`, "edges", 0, "node", f)],
  });
}
for (const f of ["id", "email"]) {
  probes.push({
    name: `Customer.createdBy.${f} (a User reached through a customer)`,
    query: `query($c: ID!) { customer(id: $c) { createdBy { ${f} } } }`,
    steps: [
      step("Query.customer", "customer"),
      step("Customer.createdBy", "createdBy"),
      step(`User.${f}`, f),
    ],
    own: (caller) => caller.role === "ADMIN", // the ADMIN created the customer
  });
}
for (const f of NOTE_FIELDS) {
  const selection = f === "author" || f === "customer" ? `${f} { __typename }` : f;
  probes.push({
    name: `Note.${f}`,
    query: `query($c: ID!) { customer(id: $c) { notes { nodes { ${selection} } } } }`,
    steps: [
      step("Query.customer", "customer"),
      step("Customer.notes", "notes"),
      step(`Note.${f}`, "nodes", 0, f),
    ],
  });
}
probes.push({
  name: "Note.author.email (a User reached through a note)",
  query: `query($c: ID!) { customer(id: $c) { notes { nodes { author { email } } } } }`,
  steps: [
    step("Query.customer", "customer"),
    step("Customer.notes", "notes"),
    step("Note.author", "nodes", 0, "author"),
    step("User.email", "email"),
  ],
  own: (caller) => caller.role === "AGENT", // the AGENT wrote the note
});
probes.push({
  name: "Query.auditEvents",
  query: `{ auditEvents(first: 1) { totalCount } }`,
  steps: [step("Query.auditEvents", "auditEvents")],
});
for (const f of AUDIT_FIELDS) {
  probes.push({
    name: `AuditEvent.${f}`,
    query: `{ auditEvents(first: 1) { nodes { ${f} } } }`,
    steps: [step("Query.auditEvents", "auditEvents"), step(`AuditEvent.${f}`, "nodes", 0, f)],
  });
}
probes.push({
  name: "Query.apiClients",
  query: `{ apiClients { __typename } }`,
  steps: [step("Query.apiClients", "apiClients")],
});
for (const f of API_CLIENT_FIELDS) {
  probes.push({
    name: `ApiClient.${f}`,
    query: `{ apiClients { ${f} } }`,
    steps: [step("Query.apiClients", "apiClients"), step(`ApiClient.${f}`, 0, f)],
  });
}

describe("ACCESS.md field matrix: every read cell, for every principal", () => {
  for (const probe of probes) {
    it(probe.name, async () => {
      const everyone = [...callers, anonymous].filter((c) => probe.for?.(c) ?? true);
      await Promise.all(
        everyone.map(async (caller) => {
          const res = await gql(url, probe.query, variables(caller), { token: caller.token });
          const denied = deniedAt(probe, caller);
          const label = `${probe.name} as ${caller.name}`;
          const fullPath = probe.steps.flatMap((s) => s.path);
          if (denied) expectDenied(res, denied, label);
          else expectAllowed(res, fullPath, label);
        }),
      );
    });
  }
});
