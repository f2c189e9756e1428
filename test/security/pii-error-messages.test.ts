import { beforeAll, describe, expect, it } from "vitest";
import { createTenant, type Tenant } from "../support/fixtures.js";
import { codesOf, gql } from "../support/graphql.js";
import { sharedTestServer } from "../support/server.js";

/*
 * Error messages never echo an input value (it may be personal data): graphql-js and the
 * scalars do by default ("got invalid value ...", "Value is not a valid LocalDate: ...").
 */

let url: string;
let tenant: Tenant;
const SECRET = "leaky.person@pii-echo.example";
const create = `mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }`;

beforeAll(async () => {
  ({ url } = await sharedTestServer());
  tenant = await createTenant(url, "echo");
});

const asAdmin = () => ({ token: tenant.members.ADMIN.token });
const messageOf = (res: Awaited<ReturnType<typeof gql>>) => res.body.errors?.[0]?.message;

async function expectNoEcho(
  query: string,
  variables: Record<string, unknown>,
  expected: { code: string; message: string },
  secret: string,
  token?: { token: string },
) {
  const res = await gql(url, query, variables, token ?? asAdmin());
  expect(codesOf(res)).toEqual([expected.code]);
  expect(res.body.errors![0]!.message).toBe(expected.message);
  expect(JSON.stringify(res.body)).not.toContain(secret);
}

describe("error messages never echo input values", () => {
  it("a variable of the wrong type names the variable, the path and the rule only", async () => {
    await expectNoEcho(
      create,
      { input: { name: "x", email: { nested: SECRET } } },
      {
        code: "BAD_USER_INPUT",
        message: 'Variable "$input" got an invalid value at "input.email"; expected String',
      },
      SECRET,
    );
    await expectNoEcho(
      create,
      { input: { name: "x", dateOfBirth: "1980-13-45" } },
      {
        code: "BAD_USER_INPUT",
        message:
          'Variable "$input" got an invalid value at "input.dateOfBirth"; expected LocalDate',
      },
      "1980-13-45",
    );
    // a missing required field: graphql-js would print the whole input object, email included
    await expectNoEcho(
      create,
      { input: { email: SECRET } },
      {
        code: "BAD_USER_INPUT",
        message: 'Variable "$input" got an invalid value; expected CustomerInput! (missing name)',
      },
      SECRET,
    );
    // a value holding "; " does not end early (the rest of it would pass as the reason)
    await expectNoEcho(
      create,
      { input: { name: "x", dateOfBirth: `${SECRET}; 1980-02-30` } },
      {
        code: "BAD_USER_INPUT",
        message:
          'Variable "$input" got an invalid value at "input.dateOfBirth"; expected LocalDate',
      },
      "1980-02-30",
    );
    await expectNoEcho(
      `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }`,
      { e: [SECRET], p: "whatever" },
      {
        code: "BAD_USER_INPUT",
        message: 'Variable "$e" got an invalid value; expected String!',
      },
      SECRET,
      { token: "" },
    );
  });

  it("holds for every scalar, enum and input type, any wrong type, any nesting, any key", async () => {
    const setRole = `mutation($r: Role!) { setUserRole(id: "VXNlcjox", role: $r) { id } }`;
    const wrongValues: unknown[] = [
      SECRET,
      { email: SECRET },
      [SECRET],
      [[{ deep: [SECRET] }]],
      4155550123,
      true,
    ];
    for (const value of wrongValues) {
      await expectNoEcho(
        setRole,
        { r: value },
        { code: "BAD_USER_INPUT", message: 'Variable "$r" got an invalid value; expected Role!' },
        value === true ? "true" : SECRET.slice(0, 12),
      );
      for (const field of ["dateOfBirth", "email", "phone", "taxId", "name"]) {
        const res = await gql(url, create, { input: { name: "x", [field]: value } }, asAdmin());
        if (typeof value === "string" && field !== "dateOfBirth") continue; // a string is a string
        expect(codesOf(res), `${field} ${JSON.stringify(value)}`).toEqual(["BAD_USER_INPUT"]);
        expect(JSON.stringify(res.body)).not.toContain(SECRET);
        expect(JSON.stringify(res.body)).not.toContain("4155550123");
      }
    }
    // a key of the input is part of the value too: counted, never named
    await expectNoEcho(
      create,
      { input: { name: "x", [SECRET]: 1 } },
      {
        code: "BAD_USER_INPUT",
        message:
          'Variable "$input" got an invalid value; expected CustomerInput! (1 field it does not have)',
      },
      SECRET,
    );
    // enum literals in the document
    await expectNoEcho(
      `mutation { setUserRole(id: "VXNlcjox", role: leaky_person_at_pii_echo) { id } }`,
      {},
      { code: "GRAPHQL_VALIDATION_FAILED", message: "Invalid value: expected Role!" },
      "leaky_person",
    );
  });

  it("a variable of the wrong type names its input in extensions.field, as resolver checks do", async () => {
    const nested = await gql(url, create, { input: { name: "x", email: 42 } }, asAdmin());
    expect(nested.body.errors![0]!.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.email",
    });
    const whole = await gql(
      url,
      `query($f: Int) { customers(first: $f) { totalCount } }`,
      { f: 1.5 },
      asAdmin(),
    );
    expect(whole.body.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "f" });
  });

  it("a literal of the wrong type in the document is refused without its value", async () => {
    await expectNoEcho(
      `mutation { createCustomer(input: { name: "x", dateOfBirth: "1979-02-30" }) { id } }`,
      {},
      { code: "GRAPHQL_VALIDATION_FAILED", message: "Invalid value: expected LocalDate" },
      "1979-02-30",
    );
    await expectNoEcho(
      `{ customers(filter: { email: 4155550123 }) { totalCount } }`,
      {},
      { code: "GRAPHQL_VALIDATION_FAILED", message: "Invalid value: expected String" },
      "4155550123",
    );
  });

  it("a syntax error names the kind of token it stopped at, never a literal's text", async () => {
    for (const [document, kind] of [
      [`mutation { logIn(email: "x" password: "x" "${SECRET}") { accessToken } }`, "String"],
      [
        `mutation { logIn(email: "x", password: """${SECRET}""" 4155550123) { accessToken } }`,
        "Int",
      ],
    ] as const) {
      const res = await gql(url, document, {}, { token: "" });
      expect(res.status).toBe(400);
      expect(codesOf(res)).toEqual(["GRAPHQL_PARSE_FAILED"]);
      expect(res.body.errors![0]!.message).toMatch(
        new RegExp(`^Syntax Error: .*found ${kind}\\.$`),
      );
      expect(JSON.stringify(res.body)).not.toContain(SECRET);
      expect(JSON.stringify(res.body)).not.toContain("4155550123");
    }
    const unnamed = await gql(url, `{ customers(first: 5) { nodes { name } } `, {}, asAdmin());
    expect(messageOf(unnamed)).toBe("Syntax Error: Expected Name, found <EOF>.");
  });

  it("the rules of the API name the field, never the value", async () => {
    await expectNoEcho(
      create,
      { input: { name: "x", email: "leaky.person at pii-echo" } },
      { code: "BAD_USER_INPUT", message: "input.email must be a valid email address" },
      "leaky.person",
    );
    await expectNoEcho(
      create,
      { input: { name: "x", taxId: "123 45 6789 leak" } },
      { code: "BAD_USER_INPUT", message: "input.taxId must be 4 to 32 letters, digits or dashes" },
      "6789 leak",
    );
  });

  it("valid values still go through", async () => {
    const res = await gql(
      url,
      `mutation($input: CustomerInput!) { createCustomer(input: $input) { email dateOfBirth } }`,
      { input: { name: "ok", email: SECRET, dateOfBirth: "1979-02-28" } },
      asAdmin(),
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data).toEqual({
      createCustomer: { email: SECRET, dateOfBirth: "1979-02-28" },
    });
  });
});
