import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import {
  allows,
  ANONYMOUS_CALLER,
  denialOf,
  type Caller,
  callersOf,
  SETUP_TIMEOUT_MS,
} from "../support/access-matrix.js";
import { createApiClient } from "../support/api-clients.js";
import {
  createCustomer,
  createTenant,
  PASSWORD,
  type Tenant,
  uniqueEmail,
} from "../support/fixtures.js";
import { codesOf, dataOf, gql, type GraphQLResponse } from "../support/graphql.js";
import { sharedTestServer } from "../support/server.js";

/*
 * Every mutation cell of ACCESS.md for every principal: an allowed caller's mutation takes
 * effect; a denied one returns null with one FORBIDDEN error at the mutation's path and, read
 * back afterwards, has changed nothing.
 */

let url: string;
let tenant: Tenant;
let callers: Caller[];
let admin: string;

beforeAll(async () => {
  ({ url } = await sharedTestServer());
  tenant = await createTenant(url, "mutations");
  admin = tenant.members.ADMIN.token;
  callers = [...(await callersOf(url, tenant)), ANONYMOUS_CALLER];
}, SETUP_TIMEOUT_MS);

const asAdmin = (query: string, variables: Record<string, unknown> = {}) =>
  gql(url, query, variables, { token: admin }).then(dataOf);
const unique = (label: string) => `${label} ${randomBytes(4).toString("hex")}`;

async function newUser(role: string): Promise<string> {
  const data = await asAdmin(
    `mutation($input: CreateUserInput!) { createUser(input: $input) { id } }`,
    { input: { displayName: "Pawn", email: uniqueEmail("pawn"), password: PASSWORD, role } },
  );
  return (data.createUser as { id: string }).id;
}

async function newClient(): Promise<string> {
  const data = await asAdmin(
    `mutation($input: CreateApiClientInput!) { createApiClient(input: $input) { client { id } } }`,
    { input: { name: unique("spare"), scopes: ["CUSTOMERS_READ"] } },
  );
  return (data.createApiClient as { client: { id: string } }).client.id;
}

interface Attempt {
  query: string;
  variables: Record<string, unknown>;
  /** Reads the state back as the ADMIN: the change is there exactly when it was allowed. */
  verify(allowed: boolean): Promise<void>;
  /** What an allowed caller gets back (default: a non-null result, no errors). */
  allowedResult?(res: GraphQLResponse): void;
}

interface MutationCase {
  field: string;
  prepare(caller: Caller): Attempt | Promise<Attempt>;
}

const cases: MutationCase[] = [
  {
    field: "createUser",
    prepare: () => {
      const email = uniqueEmail("new");
      return {
        query: `mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }`,
        variables: { input: { displayName: "New", email, password: PASSWORD, role: "AGENT" } },
        verify: async (allowed) => {
          const res = await gql(
            url,
            `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { expiresIn } }`,
            { e: email, p: PASSWORD },
          );
          expect(codesOf(res)).toEqual(allowed ? [] : ["UNAUTHENTICATED"]);
        },
      };
    },
  },
  {
    field: "setUserRole",
    prepare: async (caller) => {
      // A denied user tries to make themself ADMIN; the ADMIN and clients act on a pawn.
      const target =
        caller.userId && caller.role !== "ADMIN" ? caller.userId : await newUser("VIEWER");
      const before = caller.role && caller.role !== "ADMIN" ? caller.role : "VIEWER";
      const role = caller.role === "ADMIN" ? "AUDITOR" : "ADMIN";
      return {
        query: `mutation($id: ID!, $role: Role!) { setUserRole(id: $id, role: $role) { __typename } }`,
        variables: { id: target, role },
        verify: async (allowed) => {
          const data = await asAdmin(`query($id: ID!) { user(id: $id) { role } }`, { id: target });
          expect(data.user).toEqual({ role: allowed ? role : before });
        },
      };
    },
  },
  {
    field: "createCustomer",
    prepare: () => {
      const name = unique("created");
      return {
        query: `mutation($name: String!) { createCustomer(input: { name: $name }) { __typename } }`,
        variables: { name },
        verify: async (allowed) => {
          const data = await asAdmin(
            `query($name: String!) { customers(filter: { nameContains: $name }) { totalCount } }`,
            { name },
          );
          expect(data.customers).toEqual({ totalCount: allowed ? 1 : 0 });
        },
      };
    },
  },
  {
    field: "updateCustomer",
    prepare: async () => {
      const { id } = await createCustomer(url, admin, { name: "Before" });
      return {
        query: `mutation($id: ID!) { updateCustomer(id: $id, input: { name: "After" }) { __typename } }`,
        variables: { id },
        verify: async (allowed) => {
          const data = await asAdmin(`query($id: ID!) { customer(id: $id) { name } }`, { id });
          expect(data.customer).toEqual({ name: allowed ? "After" : "Before" });
        },
      };
    },
  },
  {
    field: "deleteCustomer",
    prepare: async () => {
      const { id } = await createCustomer(url, admin);
      return {
        query: `mutation($id: ID!) { deleteCustomer(id: $id) }`,
        variables: { id },
        verify: async (allowed) => {
          const data = await asAdmin(`query($id: ID!) { customer(id: $id) { __typename } }`, {
            id,
          });
          expect(data.customer).toEqual(allowed ? null : { __typename: "Customer" });
        },
      };
    },
  },
  {
    field: "addNote",
    prepare: async () => {
      const { id } = await createCustomer(url, admin);
      return {
        query: `mutation($id: ID!) { addNote(customerId: $id, body: "hello") { __typename } }`,
        variables: { id },
        verify: async (allowed) => {
          const data = await asAdmin(
            `query($id: ID!) { customer(id: $id) { notes { totalCount } } }`,
            {
              id,
            },
          );
          expect(data.customer).toEqual({ notes: { totalCount: allowed ? 1 : 0 } });
        },
      };
    },
  },
  {
    field: "createApiClient",
    prepare: () => {
      const name = unique("partner");
      return {
        query: `mutation($name: String!) {
          createApiClient(input: { name: $name, scopes: [AUDIT_READ] }) { __typename }
        }`,
        variables: { name },
        verify: async (allowed) => {
          const data = await asAdmin(`{ apiClients { name } }`);
          const names = (data.apiClients as { name: string }[]).map((c) => c.name);
          expect(names.includes(name)).toBe(allowed);
        },
      };
    },
  },
  {
    field: "revokeApiClient",
    prepare: async () => {
      const id = await newClient();
      return {
        query: `mutation($id: ID!) { revokeApiClient(id: $id) { __typename } }`,
        variables: { id },
        verify: async (allowed) => {
          const data = await asAdmin(`{ apiClients { id revokedAt } }`);
          const client = (data.apiClients as { id: string; revokedAt: string | null }[]).find(
            (c) => c.id === id,
          );
          expect(client?.revokedAt !== null).toBe(allowed);
        },
      };
    },
  },
  {
    field: "updateMe",
    prepare: (caller) => {
      const displayName = unique("renamed");
      return {
        query: `mutation($name: String!) { updateMe(input: { displayName: $name }) { __typename } }`,
        variables: { name: displayName },
        verify: async (allowed) => {
          if (!caller.userId) return; // an API client or anonymous caller has no profile
          const data = await asAdmin(`query($id: ID!) { user(id: $id) { displayName } }`, {
            id: caller.userId,
          });
          expect((data.user as { displayName: string }).displayName === displayName).toBe(allowed);
        },
      };
    },
  },
  {
    field: "changePassword",
    prepare: () => ({
      // A wrong current password: an allowed caller reaches the resolver (BAD_USER_INPUT) and
      // keeps every session, so the other tests' tokens stay valid.
      query: `mutation { changePassword(currentPassword: "not the password", newPassword: "a brand new password") }`,
      variables: {},
      allowedResult: (res) => expect(codesOf(res)).toEqual(["BAD_USER_INPUT"]),
      verify: async () => {},
    }),
  },
];

const NON_NULL_MUTATIONS = new Set(["changePassword"]);

describe("ACCESS.md mutation matrix: every mutation, for every principal", () => {
  for (const mutation of cases) {
    it(`Mutation.${mutation.field}`, async () => {
      await Promise.all(
        callers.map(async (caller) => {
          const label = `${mutation.field} as ${caller.name}`;
          const attempt = await mutation.prepare(caller);
          const allowed = allows(caller, `Mutation.${mutation.field}`, false);
          const res = await gql(url, attempt.query, attempt.variables, { token: caller.token });
          if (allowed && attempt.allowedResult) {
            attempt.allowedResult(res);
          } else if (allowed) {
            expect(res.body.errors, label).toBeUndefined();
            expect(res.body.data?.[mutation.field], label).not.toBeNull();
          } else {
            expect(res.status, label).toBe(200);
            const denial = denialOf(caller);
            expect(res.body.errors, label).toEqual([
              expect.objectContaining({
                message: denial.message,
                path: [mutation.field],
                extensions: expect.objectContaining({ code: denial.code }),
              }),
            ]);
            // changePassword is Boolean! in the contract: its null takes the whole data with it.
            expect(res.body.data, label).toEqual(
              NON_NULL_MUTATIONS.has(mutation.field) ? null : { [mutation.field]: null },
            );
          }
          await attempt.verify(allowed);
        }),
      );
    });
  }
});

describe("public mutations and what they return to their caller", () => {
  it("signUp, logIn and refreshSession return the caller's own user, email included", async () => {
    const email = uniqueEmail("self");
    const userFields = `user { id displayName role createdAt email phone lastLoginAt }`;
    const signUp = dataOf(
      await gql(
        url,
        `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken expiresIn ${userFields} } }`,
        { input: { organizationName: "Self Org", displayName: "Self", email, password: PASSWORD } },
      ),
    ).signUp as { refreshToken: string; expiresIn: number; user: Record<string, unknown> };
    expect(signUp.expiresIn).toBeGreaterThan(0);
    expect(signUp.user).toMatchObject({ displayName: "Self", role: "ADMIN", email, phone: null });

    const logIn = dataOf(
      await gql(
        url,
        `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { ${userFields} } }`,
        { e: email, p: PASSWORD },
      ),
    ).logIn as { user: Record<string, unknown> };
    expect(logIn.user).toMatchObject({ id: signUp.user.id, email });
    expect(logIn.user.lastLoginAt).not.toBeNull();

    const refreshed = dataOf(
      await gql(
        url,
        `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken ${userFields} } }`,
        { t: signUp.refreshToken },
      ),
    ).refreshSession as { user: Record<string, unknown> };
    expect(refreshed.user).toMatchObject({ id: signUp.user.id, email });
  });

  it("issueClientToken returns its payload to the anonymous caller", async () => {
    const client = await createApiClient(url, admin, ["customers:read", "audit:read"]);
    const res = await gql(
      url,
      `mutation($id: String!, $s: String!) { issueClientToken(clientId: $id, clientSecret: $s) { accessToken expiresIn scopes } }`,
      { id: client.clientId, s: client.clientSecret },
    );
    expect(dataOf(res).issueClientToken).toEqual({
      accessToken: expect.any(String),
      expiresIn: 3600,
      scopes: ["CUSTOMERS_READ", "AUDIT_READ"],
    });
  });

  it("the ADMIN who creates an API client reads its secret and every field", async () => {
    const res = await gql(
      url,
      `mutation { createApiClient(input: { name: "Reader", scopes: [USERS_READ] }) {
        clientSecret client { id name clientId scopes createdAt lastUsedAt revokedAt } } }`,
      {},
      { token: admin },
    );
    const payload = dataOf(res).createApiClient as { clientSecret: string; client: object };
    expect(payload.clientSecret).toEqual(expect.any(String));
    expect(payload.client).toMatchObject({
      name: "Reader",
      scopes: ["USERS_READ"],
      revokedAt: null,
    });
  });

  it("are open to every principal: failures are their own, never FORBIDDEN", async () => {
    await Promise.all(
      callers.map(async (caller) => {
        const res = await gql(
          url,
          `mutation { logIn(email: "nobody@test.example", password: "wrong password!") { accessToken } }`,
          {},
          { token: caller.token },
        );
        expect(codesOf(res), caller.name).toEqual(["UNAUTHENTICATED"]);
        const out = await gql(
          url,
          `mutation { logOut(refreshToken: "rt_unknown") }`,
          {},
          {
            token: caller.token,
          },
        );
        expect(dataOf(out), caller.name).toEqual({ logOut: true });
      }),
    );
  });
});
