import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { eq, sql } from "drizzle-orm";
import pino from "pino";
import { uuidv7 } from "../../src/db/uuidv7.js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { emailIndexColumns } from "../../src/db/blind-index.js";
import { convertLegacyContacts } from "../../src/db/legacy-contacts.js";
import { customers } from "../../src/db/schema.js";
import { rowIdOf, toGlobalId } from "../../src/graphql/ids.js";
import { customerBinding } from "../../src/modules/customers/customers.repository.js";
import { createCustomer, createTenant, type Tenant } from "../support/fixtures.js";
import { freshDatabase, type FreshDatabase, rawRows } from "../support/fresh-database.js";
import { codesOf, dataOf, gql } from "../support/graphql.js";
import { startServer, type TestServer } from "../support/server.js";

/*
 * The contact envelope: one ciphertext per customer row for email, phone, dateOfBirth and
 * taxIdLast4. Rows of the previous release (one ciphertext per field) are converted when a server
 * starts; partial updates merge into the envelope; a page costs one decryption per row. A
 * database of its own, so the conversion sees only the rows written here.
 */

const key = () => randomBytes(32).toString("base64");
/** Shared by every server here, as in a deployment: each reads what the others wrote. */
const env = {
  PII_KEYS: `k1:${key()}`,
  PII_ACTIVE_KEY: "k1",
  BLIND_INDEX_KEY: key(),
  JWT_SECRET: randomBytes(48).toString("base64url"),
};

let fresh: FreshDatabase;
const servers: TestServer[] = [];
let server: TestServer;
let tenant: Tenant;

async function start(logLines?: string[]): Promise<TestServer> {
  const logger = logLines
    ? pino(
        { level: "info" },
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            logLines.push(chunk.toString("utf8"));
            done();
          },
        }),
      )
    : undefined;
  const started = await startServer(
    { ...fresh.env, ...env },
    { pglite: fresh.pglite, ...(logger ? { logger } : {}) },
  );
  servers.push(started);
  return started;
}

beforeAll(async () => {
  fresh = await freshDatabase();
  server = await start();
  tenant = await createTenant(server.url, "envelope");
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await fresh?.drop();
});

const db = () => server.app.services.database.db;
const FIELDS = "name email phone dateOfBirth taxId taxIdLast4";

async function read(id: string) {
  const res = await gql(
    server.url,
    `query($id: ID!) { customer(id: $id) { ${FIELDS} } }`,
    { id },
    { token: tenant.members.ADMIN.token },
  );
  return dataOf(res).customer as Record<string, string | null>;
}

const storedRow = async (id: string) => {
  const [row] = await rawRows<Record<string, string | null>>(
    db(),
    sql`select contact_enc, tax_id_enc, email_enc, phone_enc, date_of_birth_enc, tax_id_last4_enc
          from customers where id = ${rowIdOf(id, "Customer")}::uuid`,
  );
  return row!;
};

/** A row as the previous release wrote it: one ciphertext per field, no envelope. */
async function insertLegacy(values: {
  name: string;
  email: string;
  phone: string | null;
  dateOfBirth: string;
  taxId: string;
}) {
  const { cipher, blindIndex } = server.app.services;
  const id = uuidv7();
  const seal = (value: string | null, column: Parameters<typeof customerBinding>[1]) =>
    cipher.encryptOptional(value, customerBinding(id, column));
  await db()
    .insert(customers)
    .values({
      id,
      orgId: rowIdOf(tenant.orgId, "Organization")!,
      name: values.name,
      emailEnc: seal(values.email, "email"),
      ...emailIndexColumns(blindIndex, values.email),
      phoneEnc: seal(values.phone, "phone"),
      dateOfBirthEnc: seal(values.dateOfBirth, "date_of_birth"),
      taxIdEnc: seal(values.taxId, "tax_id"),
      taxIdLast4Enc: seal(values.taxId.slice(-4), "tax_id_last4"),
    });
  return toGlobalId("Customer", id);
}

describe("rows of the previous release", () => {
  it("are converted to envelopes when a server starts and read back the same", async () => {
    const legacy = {
      name: "Legacy Lena",
      email: "lena@legacy.example",
      phone: "+14155550777",
      dateOfBirth: "1964-02-29",
      taxId: "LG-5550-9876",
    };
    const id = await insertLegacy(legacy);
    const noPhone = await insertLegacy({ ...legacy, name: "Legacy Nophone", phone: null });
    // one the previous release could not have written: its phone is bound to another column
    const broken = await insertLegacy({ ...legacy, name: "Legacy Broken" });
    await db().execute(sql`update customers set phone_enc = date_of_birth_enc
                            where id = ${rowIdOf(broken, "Customer")}::uuid`);

    const logLines: string[] = [];
    server = await start(logLines);

    expect(await read(id)).toEqual({ ...legacy, taxIdLast4: "9876" });
    expect(await read(noPhone)).toEqual({
      ...legacy,
      name: "Legacy Nophone",
      phone: null,
      taxIdLast4: "9876",
    });
    const stored = await storedRow(id);
    expect(stored.contact_enc).toMatch(/^v1\.k1\./);
    expect(stored).toMatchObject({
      email_enc: null,
      phone_enc: null,
      date_of_birth_enc: null,
      tax_id_last4_enc: null,
    });
    expect(stored.tax_id_enc).not.toBeNull();

    // the undecryptable row is left as it was and logged by table, column and id only
    const left = await storedRow(broken);
    expect(left.contact_enc).toBeNull();
    expect(left.email_enc).not.toBeNull();
    const warning = logLines.find((line) => line.includes("legacy contact not converted"));
    expect(JSON.parse(warning!)).toMatchObject({
      table: "customers",
      column: "phone",
      rowId: rowIdOf(broken, "Customer"),
    });
    const everything = logLines.join("\n");
    for (const value of Object.values(legacy)) expect(everything).not.toContain(value);
    // and it still fails as a field error, not a crash, with the fields beside it resolving
    const res = await gql(
      server.url,
      `query($id: ID!) { customer(id: $id) { name phone taxId } }`,
      { id: broken },
      { token: tenant.members.ADMIN.token },
    );
    expect(codesOf(res)).toEqual(["INTERNAL_SERVER_ERROR"]);
    expect(res.body.data!.customer).toEqual({
      name: "Legacy Broken",
      phone: null,
      taxId: legacy.taxId,
    });
  });

  it("instances converting at once share the rows and convert each once", async () => {
    const other = await start();
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      ids.push(
        await insertLegacy({
          name: `Legacy Batch ${i}`,
          email: `batch.${i}@legacy.example`,
          phone: `+1415555${String(2000 + i)}`,
          dateOfBirth: "1970-01-01",
          taxId: `LB-${1000 + i}`,
        }),
      );
    }
    const silent = pino({ level: "silent" });
    const reports = await Promise.all(
      [server, other].map((s) =>
        convertLegacyContacts(s.app.services.database.db, s.app.services.cipher, silent, 3),
      ),
    );
    expect(reports.reduce((n, r) => n + r.converted, 0)).toBe(12);
    const again = await convertLegacyContacts(db(), server.app.services.cipher, silent, 3);
    expect(again.converted).toBe(0);
    expect(again.failed).toBe(1); // the broken row above, still left as it is
    for (const [i, id] of ids.entries()) {
      expect(await read(id)).toMatchObject({ email: `batch.${i}@legacy.example` });
    }
  });
});

describe("a rolling deploy", () => {
  it("a value the previous release writes to a converted row wins, and is merged later", async () => {
    const [row] = await rawRows<{ id: string }>(
      db(),
      sql`select id from customers where name = 'Legacy Lena'`,
    );
    const id = toGlobalId("Customer", row!.id);
    const phone = "+14155550555";
    // what an instance of the previous release does on updateCustomer(input: { phone })
    await db()
      .update(customers)
      .set({
        phoneEnc: server.app.services.cipher.encrypt(phone, customerBinding(row!.id, "phone")),
      })
      .where(eq(customers.id, row!.id));
    const before = await read(id);
    expect(before).toMatchObject({ phone, email: "lena@legacy.example" });

    const silent = pino({ level: "silent" });
    const report = await convertLegacyContacts(db(), server.app.services.cipher, silent);
    expect(report.converted).toBe(1);
    expect(await storedRow(id)).toMatchObject({ phone_enc: null });
    expect(await read(id)).toEqual(before);
  });
});

describe("writes", () => {
  const full = {
    name: "Patch Pat",
    email: "pat@envelope.example",
    phone: "+14155550888",
    dateOfBirth: "1988-08-08",
    taxId: "PT-1234-5678",
  };
  const update = async (id: string, input: Record<string, unknown>) =>
    dataOf(
      await gql(
        server.url,
        `mutation($id: ID!, $input: CustomerPatch!) { updateCustomer(id: $id, input: $input) { ${FIELDS} } }`,
        { id, input },
        { token: tenant.members.ADMIN.token },
      ),
    ).updateCustomer as Record<string, string | null>;

  it("a partial update merges into the envelope and keeps the other fields", async () => {
    const { id } = await createCustomer(server.url, tenant.members.ADMIN.token, full);
    const changed = { ...full, phone: "+14155550999", taxIdLast4: "5678" };
    expect(await update(id, { phone: "+14155550999" })).toEqual(changed);
    expect(await read(id)).toEqual(changed);

    // a patch of no contact field leaves the envelope as it is
    const before = await storedRow(id);
    expect(await update(id, { name: "Patch Renamed" })).toMatchObject({
      name: "Patch Renamed",
      email: full.email,
    });
    expect((await storedRow(id)).contact_enc).toBe(before.contact_enc);

    // the tax id sets its last four in the envelope; cleared, both go
    expect(await update(id, { taxId: "PT-0000-4321" })).toMatchObject({
      taxId: "PT-0000-4321",
      taxIdLast4: "4321",
      email: full.email,
    });
    expect(await update(id, { taxId: null, email: null })).toEqual({
      ...changed,
      name: "Patch Renamed",
      email: null,
      taxId: null,
      taxIdLast4: null,
    });
    expect((await storedRow(id)).tax_id_enc).toBeNull();
    // nothing left in the envelope but the phone and the date of birth
    expect(await update(id, { phone: null, dateOfBirth: null })).toMatchObject({
      phone: null,
      dateOfBirth: null,
    });
    expect((await storedRow(id)).contact_enc).toBeNull();
  });

  it("an envelope copied from another customer's row fails to decrypt", async () => {
    const a = await createCustomer(server.url, tenant.members.ADMIN.token, full);
    const b = await createCustomer(server.url, tenant.members.ADMIN.token, {
      ...full,
      email: "other@envelope.example",
    });
    await db().execute(sql`
      update customers set contact_enc = (select contact_enc from customers
                                           where id = ${rowIdOf(a.id, "Customer")}::uuid)
       where id = ${rowIdOf(b.id, "Customer")}::uuid`);
    const res = await gql(
      server.url,
      `query($id: ID!) { customer(id: $id) { ${FIELDS} } }`,
      { id: b.id },
      { token: tenant.members.ADMIN.token },
    );
    expect(codesOf(res)).toEqual(Array(4).fill("INTERNAL_SERVER_ERROR"));
    expect(JSON.stringify(res.body)).not.toContain(full.email);
    expect(res.body.data!.customer).toEqual({
      name: full.name,
      email: null,
      phone: null,
      dateOfBirth: null,
      taxId: full.taxId,
      taxIdLast4: null,
    });
  });
});

describe("reads", () => {
  it("an AGENT's page of customers costs one decryption per row", async () => {
    for (let i = 0; i < 4; i++) {
      await createCustomer(server.url, tenant.members.ADMIN.token, { name: `Paged ${i}` });
    }
    const decrypt = vi.spyOn(server.app.services.cipher, "decrypt");
    try {
      const res = await gql(
        server.url,
        `{ customers(first: 50, filter: { nameContains: "Paged" }) {
            nodes { email phone dateOfBirth taxIdLast4 } } }`,
        {},
        { token: tenant.members.AGENT.token },
      );
      const nodes = dataOf(res).customers.nodes as Record<string, string | null>[];
      expect(nodes).toHaveLength(4);
      for (const node of nodes) expect(node.email).toMatch(/@/);
      expect(decrypt).toHaveBeenCalledTimes(nodes.length);
      for (const [, binding] of decrypt.mock.calls) expect(binding.column).toBe("contact");
    } finally {
      decrypt.mockRestore();
    }
  });
});
