import { beforeAll, describe, expect, it } from "vitest";
import {
  createCustomer,
  createTenant,
  logIn,
  PASSWORD,
  type Tenant,
  uniqueEmail,
} from "../support/fixtures.js";
import { dataOf, gql, type GraphQLResponse } from "../support/graphql.js";
import { sharedTestServer } from "../support/server.js";
import { ensureAuditEvent } from "../support/audit-events.js";
import {
  allows,
  ANONYMOUS_CALLER,
  denialOf,
  callersOf,
  SETUP_TIMEOUT_MS,
  API_CLIENT_FIELDS,
  AUDIT_FIELDS,
  type Caller,
  CUSTOMER_BASE,
  CUSTOMER_PII,
  NOTE_FIELDS,
  USER_BASE,
} from "../support/access-matrix.js";

/* Every read cell of ACCESS.md's field matrix, for every principal, over HTTP. */

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

function expectDenied(res: GraphQLResponse, path: Path, caller: Caller, label: string) {
  expect(res.status, label).toBe(200);
  const errors = (res.body.errors ?? []).map((e) => ({
    message: e.message,
    path: e.path,
    code: e.extensions?.code,
  }));
  expect(errors, label).toEqual([{ ...denialOf(caller), path }]);
  expect(valueAt(res.body.data, path), label).toBeNull();
}

/** Fields the fixtures may leave empty; every other allowed field must come back with a value. */
const MAY_BE_NULL = new Set([
  "User.phone",
  "User.lastLoginAt",
  "ApiClient.lastUsedAt",
  "ApiClient.revokedAt",
  "AuditEvent.actorId",
  "AuditEvent.operationType",
  "AuditEvent.operationName",
  "AuditEvent.ip",
]);

function expectAllowed(res: GraphQLResponse, probe: Probe, label: string) {
  expect(res.body.errors, label).toBeUndefined();
  const value = valueAt(
    res.body.data,
    probe.steps.flatMap((s) => s.path),
  );
  expect(value, label).not.toBeUndefined();
  if (!MAY_BE_NULL.has(probe.steps.at(-1)!.coordinate)) expect(value, label).not.toBeNull();
}

// ----------------------------------------------------------------------------------------------

let url: string;
let tenant: Tenant;
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
  tenant = await createTenant(url, "matrix");
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
  await ensureAuditEvent(url, admin, tenant);
  callers = await callersOf(url, tenant);
  anonymous = ANONYMOUS_CALLER;
}, SETUP_TIMEOUT_MS);

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
          if (denied) expectDenied(res, denied, caller, label);
          else expectAllowed(res, probe, label);
        }),
      );
    });
  }
});
