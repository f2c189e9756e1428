import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import {
  PartnerCustomerDocument,
  type PartnerCustomerQuery,
  PartnerCustomersDocument,
  type PartnerCustomersQuery,
} from "./generated/api.js";

/*
 * A small typed partner client: every request and response type comes from the types generated
 * from the partner token's view of the schema (generated/api.ts), so reading a field the token
 * may not use does not compile.
 */

export type PartnerCustomer = NonNullable<PartnerCustomersQuery["customers"]>["nodes"][number];

/** A GraphQL error as the API sends it: clients branch on `code`, never on the message. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly status: number,
  ) {
    super(message);
  }
}

interface Response<Data> {
  data?: Data | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export class PartnerClient {
  constructor(
    private readonly endpoint: string,
    /** The current access token (issueClientToken); called for each request. */
    private readonly accessToken: () => string | Promise<string>,
  ) {}

  async request<Data, Variables extends Record<string, unknown>>(
    document: TypedDocumentNode<Data, Variables>,
    variables: Variables,
  ): Promise<Data> {
    const response = await fetch(this.endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${await this.accessToken()}`,
      },
      body: JSON.stringify({ query: print(document), variables }),
    });
    const body = (await response.json()) as Response<Data>;
    const error = body.errors?.[0];
    if (error || !body.data) {
      throw new ApiError(error?.message ?? "no data", error?.extensions?.code, response.status);
    }
    return body.data;
  }

  /** Every customer of the organization, a page at a time. */
  async *customers(pageSize = 100): AsyncGenerator<PartnerCustomer> {
    let after: string | null | undefined;
    do {
      const { customers } = await this.request(PartnerCustomersDocument, {
        first: pageSize,
        after,
      });
      if (!customers) return;
      yield* customers.nodes;
      after = customers.pageInfo.hasNextPage ? customers.pageInfo.endCursor : undefined;
    } while (after);
  }

  async customer(id: string): Promise<PartnerCustomerQuery["customer"]> {
    return (await this.request(PartnerCustomerDocument, { id })).customer;
  }
}
