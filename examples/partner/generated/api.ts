/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
export type Maybe<T> = T | null;
export type InputMaybe<T> = Maybe<T>;
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string; }
  String: { input: string; output: string; }
  Boolean: { input: boolean; output: boolean; }
  Int: { input: number; output: number; }
  Float: { input: number; output: number; }
  DateTimeISO: { input: string; output: string; }
};

export type AuthPayload = {
  __typename?: 'AuthPayload';
  accessToken: Scalars['String']['output'];
  /** Seconds until the access token expires. */
  expiresIn: Scalars['Int']['output'];
  refreshToken: Scalars['String']['output'];
  user: User;
};

export type ClientTokenPayload = {
  __typename?: 'ClientTokenPayload';
  accessToken: Scalars['String']['output'];
  expiresIn: Scalars['Int']['output'];
  scopes: Array<Scope>;
};

export type Customer = Node & {
  __typename?: 'Customer';
  /** Requires: ADMIN, AGENT, VIEWER, AUDITOR, or scope customers:read. */
  createdAt: Scalars['DateTimeISO']['output'];
  /** Requires: ADMIN, AGENT, VIEWER, AUDITOR, or scope customers:read. */
  createdBy?: Maybe<User>;
  /** Requires: ADMIN, AGENT, VIEWER, AUDITOR, or scope customers:read. */
  id: Scalars['ID']['output'];
  /** Requires: ADMIN, AGENT, VIEWER, AUDITOR, or scope customers:read. */
  name: Scalars['String']['output'];
  /** Requires: ADMIN, AGENT, VIEWER, AUDITOR, or scope customers:read. */
  updatedAt: Scalars['DateTimeISO']['output'];
};

export type CustomerConnection = {
  __typename?: 'CustomerConnection';
  edges: Array<CustomerEdge>;
  nodes: Array<Customer>;
  pageInfo: PageInfo;
  totalCount: Scalars['Int']['output'];
};

export type CustomerEdge = {
  __typename?: 'CustomerEdge';
  cursor: Scalars['String']['output'];
  node: Customer;
};

export type CustomerFilter = {
  /** Case-insensitive substring of the name. */
  nameContains?: InputMaybe<Scalars['String']['input']>;
};

export type Mutation = {
  __typename?: 'Mutation';
  /** Exchanges an API client's id and secret for a 1-hour access token with its scopes. */
  issueClientToken: ClientTokenPayload;
  /** Signs in. A wrong email or password, or a locked account, all fail alike. */
  logIn: AuthPayload;
  /** Ends the session family of the refresh token. */
  logOut: Scalars['Boolean']['output'];
  /** Exchanges a refresh token for new tokens. Each refresh token works once; presenting a used one ends its whole session family. */
  refreshSession: AuthPayload;
  /** Creates an organization and its first user (an ADMIN), and signs that user in. */
  signUp: AuthPayload;
};


export type MutationIssueClientTokenArgs = {
  clientId: Scalars['String']['input'];
  clientSecret: Scalars['String']['input'];
};


export type MutationLogInArgs = {
  email: Scalars['String']['input'];
  password: Scalars['String']['input'];
};


export type MutationLogOutArgs = {
  refreshToken: Scalars['String']['input'];
};


export type MutationRefreshSessionArgs = {
  refreshToken: Scalars['String']['input'];
};


export type MutationSignUpArgs = {
  input: SignUpInput;
};

export type Node = {
  id: Scalars['ID']['output'];
};

export type Organization = Node & {
  __typename?: 'Organization';
  /** Requires: ADMIN, AGENT, VIEWER, AUDITOR, or any API client. */
  createdAt: Scalars['DateTimeISO']['output'];
  /** Requires: ADMIN, AGENT, VIEWER, AUDITOR, or any API client. */
  id: Scalars['ID']['output'];
  /** Requires: ADMIN, AGENT, VIEWER, AUDITOR, or any API client. */
  name: Scalars['String']['output'];
};

export type PageInfo = {
  __typename?: 'PageInfo';
  endCursor?: Maybe<Scalars['String']['output']>;
  hasNextPage: Scalars['Boolean']['output'];
};

export type Query = {
  __typename?: 'Query';
  /** Requires: ADMIN, AGENT, VIEWER, AUDITOR, or scope customers:read. */
  customer?: Maybe<Customer>;
  /** Requires: ADMIN, AGENT, VIEWER, AUDITOR, or scope customers:read. */
  customers?: Maybe<CustomerConnection>;
  /**
   * Any object by its global id.
   *
   * Requires: what the typed field of the object's type requires (for example Query.customer for a Customer).
   */
  node?: Maybe<Node>;
  /**
   * The caller's organization.
   *
   * Requires: ADMIN, AGENT, VIEWER, AUDITOR, or any API client.
   */
  organization?: Maybe<Organization>;
};


export type QueryCustomerArgs = {
  id: Scalars['ID']['input'];
};


export type QueryCustomersArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<CustomerFilter>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryNodeArgs = {
  id: Scalars['ID']['input'];
};

/** Scopes granted to partner API clients (carried in tokens as customers:read, customers:write, customers:pii, users:read, audit:read). */
export type Scope =
  | 'AUDIT_READ'
  | 'CUSTOMERS_PII'
  | 'CUSTOMERS_READ'
  | 'CUSTOMERS_WRITE'
  | 'USERS_READ';

export type SignUpInput = {
  displayName: Scalars['String']['input'];
  email: Scalars['String']['input'];
  organizationName: Scalars['String']['input'];
  password: Scalars['String']['input'];
};

export type User = Node & {
  __typename?: 'User';
  /** Requires: ADMIN, AGENT, VIEWER, AUDITOR, scope users:read, or the user themself. */
  id: Scalars['ID']['output'];
};

export type PartnerCustomersQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type PartnerCustomersQuery = { customers: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, nodes: Array<{ id: string, name: string, createdAt: string, updatedAt: string }> } | null };

export type PartnerCustomerQueryVariables = Exact<{
  id: string | number;
}>;


export type PartnerCustomerQuery = { customer: { id: string, name: string, updatedAt: string } | null };


export const PartnerCustomersDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"PartnerCustomers"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"first"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"Int"}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"after"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"String"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"customers"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"first"},"value":{"kind":"Variable","name":{"kind":"Name","value":"first"}}},{"kind":"Argument","name":{"kind":"Name","value":"after"},"value":{"kind":"Variable","name":{"kind":"Name","value":"after"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"totalCount"}},{"kind":"Field","name":{"kind":"Name","value":"pageInfo"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"hasNextPage"}},{"kind":"Field","name":{"kind":"Name","value":"endCursor"}}]}},{"kind":"Field","name":{"kind":"Name","value":"nodes"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"createdAt"}},{"kind":"Field","name":{"kind":"Name","value":"updatedAt"}}]}}]}}]}}]} as unknown as DocumentNode<PartnerCustomersQuery, PartnerCustomersQueryVariables>;
export const PartnerCustomerDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"PartnerCustomer"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"customer"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"id"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"updatedAt"}}]}}]}}]} as unknown as DocumentNode<PartnerCustomerQuery, PartnerCustomerQueryVariables>;