import { randomBytes } from "node:crypto";
import { dataOf, gql } from "./graphql.js";

export const PASSWORD = "correct horse battery staple";
export const ROLES = ["ADMIN", "AGENT", "VIEWER", "AUDITOR"] as const;
export type RoleName = (typeof ROLES)[number];

export const uniqueEmail = (label: string) =>
  `${label}.${randomBytes(6).toString("hex")}@test.example`;

export interface Member {
  id: string;
  email: string;
  token: string;
  refreshToken: string;
}

export interface Tenant {
  orgId: string;
  name: string;
  /** One member of each role; the ADMIN is the one who signed up. */
  members: Record<RoleName, Member>;
}

export async function logIn(url: string, email: string, password = PASSWORD) {
  const res = await gql(
    url,
    `mutation($email: String!, $password: String!) {
      logIn(email: $email, password: $password) { accessToken refreshToken user { id } }
    }`,
    { email, password },
  );
  const { logIn: payload } = dataOf(res);
  return payload as { accessToken: string; refreshToken: string; user: { id: string } };
}

/** A fresh organization with one user of each role, all logged in. */
export async function createTenant(url: string, label = "org"): Promise<Tenant> {
  const name = `${label} ${randomBytes(4).toString("hex")}`;
  const adminEmail = uniqueEmail(`${label}-admin`);
  const signUp = dataOf(
    await gql(
      url,
      `mutation($input: SignUpInput!) {
        signUp(input: $input) { accessToken refreshToken user { id } }
      }`,
      {
        input: {
          organizationName: name,
          displayName: "Admin",
          email: adminEmail,
          password: PASSWORD,
        },
      },
    ),
  ).signUp as { accessToken: string; refreshToken: string; user: { id: string } };
  const org = dataOf(await gql(url, `{ organization { id } }`, {}, { token: signUp.accessToken }));
  const members = {
    ADMIN: {
      id: signUp.user.id,
      email: adminEmail,
      token: signUp.accessToken,
      refreshToken: signUp.refreshToken,
    },
  } as Record<RoleName, Member>;
  for (const role of ROLES.slice(1)) {
    const email = uniqueEmail(`${label}-${role.toLowerCase()}`);
    dataOf(
      await gql(
        url,
        `mutation($input: CreateUserInput!) { createUser(input: $input) { id } }`,
        { input: { displayName: `${role} person`, email, password: PASSWORD, role } },
        { token: signUp.accessToken },
      ),
    );
    const session = await logIn(url, email);
    members[role] = {
      id: session.user.id,
      email,
      token: session.accessToken,
      refreshToken: session.refreshToken,
    };
  }
  return { orgId: (org.organization as { id: string }).id, name, members };
}

export async function createCustomer(
  url: string,
  token: string,
  input: Record<string, unknown> = {},
): Promise<{ id: string }> {
  const res = await gql(
    url,
    `mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }`,
    {
      input: {
        name: `Customer ${randomBytes(3).toString("hex")}`,
        email: uniqueEmail("customer"),
        phone: "+14155550123",
        dateOfBirth: "1980-01-31",
        taxId: "123-45-6789",
        ...input,
      },
    },
    { token },
  );
  return dataOf(res).createCustomer as { id: string };
}
