/** The operations `npm run bench` measures, as the JSON bodies autocannon sends. */
export interface Operation {
  name: string;
  /** Held to the ≥ 0.8× baseline throughput target. */
  throughputTarget: boolean;
  /**
   * Sent by this many organizations (a signed-up ADMIN each, one per connection in turn)
   * instead of one agent of the seeded data: tenants that write at once.
   */
  organizations?: number;
  /** Sent in turn on every connection; body() runs once per request. */
  requests: { body: () => string }[];
}

const fixed = (query: string) => {
  const body = JSON.stringify({ query });
  return { body: () => body };
};

/** The fixed cost of a signed-in request: the token checked, no field that reads data. */
const typename = fixed(`query Typename { __typename }`);

const me = fixed(`query Me { me { id displayName } }`);

/** Every Customer field an AGENT may read (ACCESS.md): four of them decrypted per row. */
const customers = fixed(`query Customers { customers(first: 50) { nodes {
  id name createdAt updatedAt email phone dateOfBirth taxIdLast4 } } }`);

const nested = fixed(`query CustomersWithNotes { customers(first: 50) { nodes {
  createdBy { displayName } notes(first: 5) { nodes { body author { displayName } } } } } }`);

let created = 0;
const createCustomer = {
  body: () => {
    created++;
    return JSON.stringify({
      query: `mutation CreateCustomer($input: CustomerInput!) { createCustomer(input: $input) { id } }`,
      variables: {
        input: {
          name: `Bench customer ${created}`,
          email: `bench.customer.${created}@mail.bench.example`,
          phone: "+14155550123",
          dateOfBirth: "1980-01-31",
          taxId: `123-45-${String(created % 10_000).padStart(4, "0")}`,
        },
      },
    });
  },
};

export const OPERATIONS: Operation[] = [
  { name: "0 { __typename }, signed in", throughputTarget: false, requests: [typename] },
  { name: "1 me", throughputTarget: true, requests: [me] },
  { name: "2 customers(50), PII", throughputTarget: true, requests: [customers] },
  { name: "3 customers(50) nested", throughputTarget: true, requests: [nested] },
  { name: "4 createCustomer", throughputTarget: true, requests: [createCustomer] },
  {
    name: "5 createCustomer, 8 organizations",
    throughputTarget: true,
    organizations: 8,
    requests: [createCustomer],
  },
  {
    name: "6 mixed (1-4 in turn)",
    throughputTarget: false,
    requests: [me, customers, nested, createCustomer],
  },
];
