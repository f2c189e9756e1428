import { Writable } from "node:stream";
import { sql } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rowIdOf } from "../../src/graphql/ids.js";
import { createCustomer, createTenant, type Tenant } from "../support/fixtures.js";
import { rawRows } from "../support/fresh-database.js";
import { dataOf, gql } from "../support/graphql.js";
import { startServer, type TestServer } from "../support/server.js";

/*
 * Ciphertexts are bound to their table, column and row: changed behind the API's back (in SQL),
 * a value fails to decrypt with INTERNAL_SERVER_ERROR and a generic message; it never shows
 * another row's or another column's data, and the fields beside it still resolve. The contact
 * envelope (email, phone, dateOfBirth, taxIdLast4) is one value: its fields fail together.
 */

let server: TestServer;
let tenant: Tenant;
const logLines: string[] = [];
const people = {
  alice: { name: "Alice Tamper", email: "alice@tamper.example", phone: "+14155550001" },
  bob: { name: "Bob Tamper", email: "bob@tamper.example", phone: "+14155550002" },
};
const ids = { alice: "", bob: "" };
/** The request ids the failed reads' errors carried, to find their lines in the server log. */
const failedRequestIds = new Set<string>();

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString("utf8"));
      done();
    },
  });
  server = await startServer({}, { logger: pino({ level: "info" }, sink) });
  tenant = await createTenant(server.url, "tamper");
  for (const who of ["alice", "bob"] as const) {
    const { id } = await createCustomer(server.url, tenant.members.ADMIN.token, {
      ...people[who],
      dateOfBirth: "1990-06-15",
      taxId: `TX-${who}-0042`,
    });
    ids[who] = id;
  }
});

afterAll(() => server?.close());

const db = () => server.app.services.database.db;
const row = (who: keyof typeof ids) => rowIdOf(ids[who], "Customer")!;

async function read(who: keyof typeof ids) {
  return gql(
    server.url,
    `query($id: ID!) { customer(id: $id) { name email phone dateOfBirth taxId taxIdLast4 } }`,
    { id: ids[who] },
    { token: tenant.members.ADMIN.token },
  );
}

const CONTACT = ["email", "phone", "dateOfBirth", "taxIdLast4"];

/** The given fields failed with INTERNAL_SERVER_ERROR and a generic message, and read null. */
function expectFailedFields(res: Awaited<ReturnType<typeof read>>, fields: string[]) {
  expect(res.status).toBe(200);
  expect(res.body.errors!.map((e) => e.path)).toEqual(
    expect.arrayContaining(fields.map((f) => ["customer", f])),
  );
  expect(res.body.errors).toHaveLength(fields.length);
  for (const error of res.body.errors!) {
    expect(error.message).toBe("Internal server error");
    expect(error.extensions).toEqual({
      code: "INTERNAL_SERVER_ERROR",
      requestId: expect.any(String),
    });
    failedRequestIds.add(error.extensions!.requestId as string);
  }
  for (const field of fields) expect(res.body.data!.customer[field]).toBeNull();
}

const swapContacts = () =>
  db().execute(sql`
    update customers c set contact_enc = o.contact_enc
      from customers o
     where (c.id, o.id) in ((${row("alice")}::uuid, ${row("bob")}::uuid),
                            (${row("bob")}::uuid, ${row("alice")}::uuid))`);

describe("tampered ciphertexts", () => {
  it("reads every field when nothing was touched", async () => {
    expect(dataOf(await read("alice")).customer).toEqual({
      ...people.alice,
      dateOfBirth: "1990-06-15",
      taxId: "TX-alice-0042",
      taxIdLast4: "0042",
    });
  });

  it("an envelope swapped between two rows fails in both instead of showing the other's", async () => {
    await swapContacts();
    const [alice, bob] = await Promise.all([read("alice"), read("bob")]);
    expectFailedFields(alice, CONTACT);
    expectFailedFields(bob, CONTACT);
    expect(JSON.stringify(alice.body)).not.toContain(people.bob.email);
    expect(JSON.stringify(bob.body)).not.toContain(people.alice.email);
    // the fields outside the envelope still resolve
    expect(alice.body.data!.customer).toMatchObject({
      name: people.alice.name,
      taxId: "TX-alice-0042",
    });
    expect(bob.body.data!.customer).toMatchObject({ name: people.bob.name, taxId: "TX-bob-0042" });
    // swapped back, each envelope is its row's again
    await swapContacts();
    expect(dataOf(await read("alice")).customer).toMatchObject(people.alice);
  });

  it("a ciphertext copied to another column of the same row fails", async () => {
    await db().execute(
      sql`update customers set contact_enc = tax_id_enc where id = ${row("bob")}::uuid`,
    );
    const res = await read("bob");
    expectFailedFields(res, CONTACT);
    expect(res.body.data!.customer).toMatchObject({ taxId: "TX-bob-0042", taxIdLast4: null });
  });

  it("a flipped byte fails the same way", async () => {
    const [stored] = await rawRows<{ v: string }>(
      db(),
      sql`select contact_enc as v from customers where id = ${row("alice")}::uuid`,
    );
    const [version, keyId, packed] = stored!.v.split(".");
    const bytes = Buffer.from(packed!, "base64url");
    bytes[14]! ^= 0x01; // inside the ciphertext, after the 12-byte IV
    const flipped = `${version}.${keyId}.${bytes.toString("base64url")}`;
    await db().execute(
      sql`update customers set contact_enc = ${flipped} where id = ${row("alice")}::uuid`,
    );
    const res = await read("alice");
    expectFailedFields(res, CONTACT);
    expect(res.body.data!.customer.taxId).toBe("TX-alice-0042");
  });

  it("an unknown key id or a truncated value fails too", async () => {
    await db().execute(sql`
      update customers set contact_enc = 'v1.nokey.' || split_part(contact_enc, '.', 3),
                           tax_id_enc = left(tax_id_enc, 30)
       where id = ${row("alice")}::uuid`);
    const res = await read("alice");
    expectFailedFields(res, [...CONTACT, "taxId"]);
    expect(res.body.data!.customer).toMatchObject({ name: people.alice.name });
  });

  it("the server log names the row and column of each failure, never a value", () => {
    const failures = logLines.filter((line) => line.includes("PiiDecryptionError"));
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.join("\n")).toContain(`customers.contact of row ${row("alice")}`);
    expect(failures.join("\n")).toContain(`customers.tax_id of row ${row("alice")}`);
    // each line carries the id of the request whose response reported the failure
    for (const line of failures) {
      expect(failedRequestIds).toContain((JSON.parse(line) as { reqId?: string }).reqId);
    }
    const everything = logLines.join("\n");
    for (const value of [
      people.alice.email,
      people.bob.email,
      people.alice.phone,
      "1990-06-15",
      "TX-alice-0042",
      "TX-bob-0042",
    ]) {
      expect(everything).not.toContain(value);
    }
  });
});
