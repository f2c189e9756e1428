import { randomBytes } from "node:crypto";
import { dataOf, gql } from "./graphql.js";

export interface PartnerClient {
  id: string;
  clientId: string;
  clientSecret: string;
  token: string;
  scopes: string[];
}

/** "customers:read" → the GraphQL enum value CUSTOMERS_READ. */
export const scopeEnum = (scope: string) => scope.toUpperCase().replace(":", "_");

/** An API client created by the ADMIN with these scopes (token names), signed in with its secret. */
export async function createApiClient(
  url: string,
  adminToken: string,
  scopes: readonly string[],
): Promise<PartnerClient> {
  const created = dataOf(
    await gql(
      url,
      `mutation($input: CreateApiClientInput!) {
        createApiClient(input: $input) { clientSecret client { id clientId } }
      }`,
      {
        input: { name: `partner ${randomBytes(3).toString("hex")}`, scopes: scopes.map(scopeEnum) },
      },
      { token: adminToken },
    ),
  ).createApiClient as { clientSecret: string; client: { id: string; clientId: string } };
  const issued = dataOf(
    await gql(
      url,
      `mutation($id: String!, $secret: String!) {
        issueClientToken(clientId: $id, clientSecret: $secret) { accessToken }
      }`,
      { id: created.client.clientId, secret: created.clientSecret },
    ),
  ).issueClientToken as { accessToken: string };
  return {
    id: created.client.id,
    clientId: created.client.clientId,
    clientSecret: created.clientSecret,
    token: issued.accessToken,
    scopes: [...scopes],
  };
}
