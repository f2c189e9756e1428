import { Writable } from "node:stream";
import { sql } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rowIdOf } from "../../src/graphql/ids.js";
import { createCustomer, createTenant, type Tenant } from "../support/fixtures.js";
import { rawRows } from "../support/fresh-database.js";
import { codesOf, dataOf, gql } from "../support/graphql.js";
import { startServer, type TestServer } from "../support/server.js";

/*
 * Ciphertexts are bound to their table, column and row: changed behind the API's back (in SQL),
 * a value fails to decrypt with INTERNAL_SERVER_ERROR and a generic message; it never shows
 * another row's or another column's data, and the fields beside it still resolve.
 */

let server: TestServer;
let tenant: Tenant;
const logLines: string[] = [];
const people = {
  alice: { name: "Alice Tamper", email: "alice@tamper.example", phone: "+14155550001" },
  bob: { name: "Bob Tamper", email: "bob@tamper.example", phone: "+14155550002" },
};
const ids = { alice: "", bob: "" };

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

function expectFailedField(res: Awaited<ReturnType<typeof read>>, field: string) {
  expect(res.status).toBe(200);
  expect(codesOf(res)).toEqual(["INTERNAL_SERVER_ERROR"]);
  expect(res.body.errors![0]).toMatchObject({
    message: "Internal server error",
    path: ["customer", field],
  });
  expect(res.body.errors![0]!.extensions).toEqual({
    code: "INTERNAL_SERVER_ERROR",
    requestId: expect.any(String),
  });
  expect(res.body.data!.customer[field]).toBeNull();
}

describe("tampered ciphertexts", () => {
  it("reads every field when nothing was touched", async () => {
    expect(dataOf(await read("alice")).customer).toEqual({
      ...people.alice,
      dateOfBirth: "1990-06-15",
      taxId: "TX-alice-0042",
      taxIdLast4: "0042",
    });
  });

  it("a ciphertext swapped between two rows fails in both instead of showing the other's", async () => {
    await db().execute(sql`
      update customers c set email_enc = o.email_enc
        from customers o
       where (c.id, o.id) in ((${row("alice")}::uuid, ${row("bob")}::uuid),
                              (${row("bob")}::uuid, ${row("alice")}::uuid))`);
    const [alice, bob] = await Promise.all([read("alice"), read("bob")]);
    expectFailedField(alice, "email");
    expectFailedField(bob, "email");
    expect(JSON.stringify(alice.body)).not.toContain(people.bob.email);
    expect(JSON.stringify(bob.body)).not.toContain(people.alice.email);
    // siblings still resolve
    expect(alice.body.data!.customer).toMatchObject({
      name: people.alice.name,
      phone: people.alice.phone,
    });
    expect(bob.body.data!.customer).toMatchObject({
      name: people.bob.name,
      phone: people.bob.phone,
    });
  });

  it("a ciphertext copied to another column of the same row fails", async () => {
    await db().execute(
      sql`update customers set tax_id_last4_enc = tax_id_enc where id = ${row("bob")}::uuid`,
    );
    const res = await read("bob");
    expect(codesOf(res)).toEqual(["INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR"]);
    expect(res.body.errors!.map((e) => e.path)).toEqual(
      expect.arrayContaining([
        ["customer", "email"],
        ["customer", "taxIdLast4"],
      ]),
    );
    expect(res.body.data!.customer).toMatchObject({ taxId: "TX-bob-0042", taxIdLast4: null });
  });

  it("a flipped byte fails the same way", async () => {
    const [stored] = await rawRows<{ v: string }>(
      db(),
      sql`select date_of_birth_enc as v from customers where id = ${row("alice")}::uuid`,
    );
    const [version, keyId, packed] = stored!.v.split(".");
    const bytes = Buffer.from(packed!, "base64url");
    bytes[14]! ^= 0x01; // inside the ciphertext, after the 12-byte IV
    const flipped = `${version}.${keyId}.${bytes.toString("base64url")}`;
    await db().execute(
      sql`update customers set date_of_birth_enc = ${flipped} where id = ${row("alice")}::uuid`,
    );
    const res = await read("alice");
    expect(res.body.data!.customer.dateOfBirth).toBeNull();
    expect(res.body.errors!.map((e) => [e.path, e.extensions?.code])).toEqual(
      expect.arrayContaining([[["customer", "dateOfBirth"], "INTERNAL_SERVER_ERROR"]]),
    );
    expect(res.body.data!.customer.taxId).toBe("TX-alice-0042");
  });

  it("an unknown key id or a truncated value fails too", async () => {
    await db().execute(sql`
      update customers set phone_enc = 'v1.nokey.' || split_part(phone_enc, '.', 3),
                           tax_id_enc = left(tax_id_enc, 30)
       where id = ${row("alice")}::uuid`);
    const res = await read("alice");
    expect(res.body.errors!.map((e) => e.path![1]).sort()).toEqual(
      ["dateOfBirth", "email", "phone", "taxId"].sort(),
    );
    expect(res.body.data!.customer).toMatchObject({ name: people.alice.name, taxIdLast4: "0042" });
  });

  it("the server log names the row and column of each failure, never a value", () => {
    const failures = logLines.filter((line) => line.includes("PiiDecryptionError"));
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.join("\n")).toContain(`customers.email of row ${row("alice")}`);
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
