import { createHash, randomBytes } from "node:crypto";
import { parse, print } from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import { uuidv7 } from "../../src/db/uuidv7.js";
import { toGlobalId } from "../../src/graphql/ids.js";
import { buildApiSchema } from "../../src/graphql/schema.js";
import { OperationDescriber, storableText } from "../../src/security/audit/describe-operation.js";
import { VariableDescriber } from "../../src/security/audit/describe-variables.js";
import { TextFingerprint } from "../../src/security/audit/text-fingerprint.js";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("storableText", () => {
  it("keeps ordinary text as it is, non-ASCII and surrogate pairs included", () => {
    for (const text of ["Mozilla/5.0 (X11; Linux x86_64)", "Zoë 東京", "emoji 😀 pair", ""]) {
      expect(storableText(text)).toBe(text);
    }
  });

  it("drops NUL characters, which PostgreSQL text cannot hold", () => {
    expect(storableText("a\u0000b\u0000")).toBe("ab");
  });

  it("replaces lone surrogates (invalid UTF-8) and keeps the pairs around them", () => {
    expect(storableText("x\ud800y")).toBe("x\ufffdy");
    expect(storableText("x\udc00y")).toBe("x\ufffdy");
    expect(storableText("😀\ud83d")).toBe("😀\ufffd");
    expect(storableText("\udc00😀\u0000")).toBe("\ufffd😀");
  });

  it("cuts at maxLength before cleaning", () => {
    expect(storableText("abcdef", 3)).toBe("abc");
    expect(storableText("ab\u0000def", 3)).toBe("ab");
    expect(storableText("abc", 3)).toBe("abc");
  });
});

const secret = randomBytes(32);
let describer: OperationDescriber;
let fingerprint: TextFingerprint;

beforeAll(async () => {
  fingerprint = new TextFingerprint(secret);
  describer = new OperationDescriber(
    new VariableDescriber(await buildApiSchema(), fingerprint),
    1_000,
  );
});

const ORG = uuidv7();
const describe_ = (query: string, variables?: unknown, orgId: string | null = ORG) =>
  describer.describe({ query, ...(variables === undefined ? {} : { variables }) }, { orgId });
/** The fingerprint of a text sent in `field` by an event of ORG. */
const fp = (text: string, field: string) => fingerprint.of(text, { orgId: ORG, field });

describe("the document fingerprint", () => {
  it("is the SHA-256 of the document with its literals blanked, the same whatever they were", () => {
    const one = describe_(
      `mutation { logIn(email: "a@b.example", password: "hunter2") { expiresIn } }`,
    );
    const other = describe_(
      `mutation { logIn(email: "c@d.example", password: "letmein") { expiresIn } }`,
    );
    expect(one.documentHash).toBe(other.documentHash);
    expect(one.documentHash).toBe(
      sha256(print(parse(`mutation { logIn(email: "", password: "") { expiresIn } }`))),
    );
    // so a guessed password cannot be confirmed by hashing a candidate document
    const guess = `mutation { logIn(email: "a@b.example", password: "hunter2") { expiresIn } }`;
    expect(one.documentHash).not.toBe(sha256(guess));
  });

  it("blanks a bare name sent where a string belongs (an enum value to the parser)", () => {
    const a = describe_(`mutation { logIn(email: x, password: Hunter2) { expiresIn } }`);
    const b = describe_(`mutation { logIn(email: y, password: Letmein) { expiresIn } }`);
    expect(a.documentHash).toBe(b.documentHash);
  });

  it("blanks numbers, lists, objects and default values too, and tells shapes apart", () => {
    const a = describe_(
      `query($f: CustomerFilter = { nameContains: "Ann" }) { customers(first: 5, filter: $f) { totalCount } }`,
    );
    const b = describe_(
      `query($f: CustomerFilter = { email: "x@y.example" }) { customers(first: 50, filter: $f) { totalCount } }`,
    );
    expect(a.documentHash).toBe(b.documentHash);
    expect(describe_(`{ me { id } }`).documentHash).not.toBe(a.documentHash);
  });

  it("is null for a document that does not parse (its text may hold anything)", () => {
    expect(describe_(`mutation { logIn(password: "hunter2"`).documentHash).toBeNull();
    expect(
      describer.describe({ queryHash: "a".repeat(64) }, { orgId: ORG }).documentHash,
    ).toBeNull();
  });
});

describe("the variables kept", () => {
  it("keep free text as a length and keyed fingerprint, never in clear", () => {
    const body = "Patient mentioned Zoë's diagnosis 😀";
    const { variables } = describe_(
      `mutation($b: String!, $c: ID!, $p: Boolean) { addNote(body: $b, customerId: $c, private: $p) { id } }`,
      { b: body, c: toGlobalId("Customer", uuidv7()), p: true },
    );
    expect(variables!.b).toBe(fp(body, "body"));
    expect(variables!.b).toMatch(/^\[text len=35 hmac=[0-9a-f]{32}\]$/);
    expect(JSON.stringify(variables)).not.toContain("Zoë");
    expect(variables!.p).toBe(true);
  });

  it("keep well-formed ids, enum values and numbers; text posing as one is fingerprinted", () => {
    const id = toGlobalId("User", uuidv7());
    const kept = describe_(
      `mutation($id: ID!, $r: Role!) { setUserRole(id: $id, role: $r) { id } }`,
      {
        id,
        r: "AGENT",
      },
    ).variables;
    expect(kept).toEqual({ id, r: "AGENT" });
    const posing = describe_(
      `mutation($id: ID!, $r: Role!) { setUserRole(id: $id, role: $r) { id } }`,
      {
        id: "ann@example.com",
        r: "ann@example.com",
      },
    ).variables;
    expect(posing).toEqual({
      id: fp("ann@example.com", "id"),
      r: fp("ann@example.com", "role"),
    });
    expect(
      describe_(`query($n: Int) { customers(first: $n) { totalCount } }`, { n: 7 }).variables,
    ).toEqual({ n: 7 });
  });

  it("redact secrets and personal data by where they flow; fingerprint the rest of an input", () => {
    const { variables } = describe_(
      `mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }`,
      {
        input: {
          name: "Ann Example",
          email: "ann@example.com",
          taxId: "123-45-6789",
          phone: null,
          nick: "annie",
        },
      },
    );
    expect(variables).toEqual({
      input: {
        name: fp("Ann Example", "name"),
        email: "[redacted]",
        taxId: "[redacted]",
        phone: null,
        "[undeclared]": fp('{"nick":"annie"}', "[undeclared]"),
      },
    });
  });

  it("keep variables the operation does not declare only as one fingerprint", () => {
    const { variables } = describe_(`query { me { id } }`, { "ann@example.com": 1, other: "x" });
    expect(variables).toEqual({
      "[undeclared]": fp('{"ann@example.com":1,"other":"x"}', "[undeclared]"),
    });
  });

  it("fingerprint with a key of their own: another secret, other fingerprints", () => {
    const context = { orgId: ORG, field: "body" };
    expect(new TextFingerprint(randomBytes(32)).of("same", context)).not.toBe(fp("same", "body"));
    expect(new TextFingerprint(secret).of("same", context)).toBe(fp("same", "body"));
  });

  it("tell repeats apart within one organization and field, and link nothing across them", () => {
    const note = (orgId: string) =>
      describe_(
        `mutation($b: String!, $c: ID!) { addNote(body: $b, customerId: $c) { id } }`,
        { b: "HIV positive", c: toGlobalId("Customer", uuidv7()) },
        orgId,
      ).variables!.b;
    expect(note(ORG)).toBe(note(ORG)); // a repeat shows
    expect(note(uuidv7())).not.toBe(note(ORG)); // another organization's says nothing
    // the same text sent where a role may send it (a name search) cannot confirm a note's body
    const search = describe_(
      `query($b: String) { customers(filter: { nameContains: $b }) { totalCount } }`,
      { b: "HIV positive" },
    ).variables!.b;
    expect(search).not.toBe(note(ORG));
  });
});
