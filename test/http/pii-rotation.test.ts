import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { uuidv7 } from "../../src/db/uuidv7.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  backfillNextBlindIndex,
  countValuesNotUnder,
  finalizeBlindIndex,
  rotateFieldKeys,
} from "../../src/db/pii-rotation.js";
import type { Database } from "../../src/db/client.js";
import { customers } from "../../src/db/schema.js";
import { DEMO_PASSWORD } from "../../src/db/seed.js";
import { rowIdOf, toGlobalId } from "../../src/graphql/ids.js";
import { customerBinding } from "../../src/modules/customers/customers.repository.js";
import { BlindIndex, FieldCipher } from "../../src/security/pii.js";
import {
  createCustomer,
  createTenant,
  logIn,
  PASSWORD,
  type Tenant,
  uniqueEmail,
} from "../support/fixtures.js";
import { freshDatabase, type FreshDatabase, rawRows } from "../support/fresh-database.js";
import { codesOf, dataOf, gql } from "../support/graphql.js";
import { startServer, type TestServer } from "../support/server.js";

/*
 * Key rotation while the API serves, on a database of its own (the rotation covers every row):
 * field keys A -> B with readers and a writer running throughout, then the blind-index key.
 */

const key = () => randomBytes(32).toString("base64");
const A = key();
const B = key();
const INDEX_1 = key();
const INDEX_2 = key();
/** One signing secret for every instance, as in a real deployment: tokens work on all of them. */
const JWT_SECRET = randomBytes(48).toString("base64url");

let fresh: FreshDatabase;
const servers: TestServer[] = [];
let tenant: Tenant;
/** What every customer of the tenant reads as, by id. */
const expected = new Map<string, Record<string, string | null>>();

async function start(env: Record<string, string>): Promise<TestServer> {
  const server = await startServer({ ...fresh.env, JWT_SECRET, ...env }, { pglite: fresh.pglite });
  servers.push(server);
  return server;
}

const CUSTOMER_FIELDS = "id name email phone dateOfBirth taxId taxIdLast4";

const LEGACY_CUSTOMER = {
  name: "Rotating legacy",
  email: "rotating.legacy@rotate.example",
  phone: "+14155554444",
  dateOfBirth: "1949-04-04",
  taxId: "RT-4444",
};

/** Inserts a customer as the previous release stored it; returns its global id. */
async function insertLegacyCustomer(db: Database, cipher: FieldCipher): Promise<string> {
  const id = uuidv7();
  const seal = (value: string, column: Parameters<typeof customerBinding>[1]) =>
    cipher.encrypt(value, customerBinding(id, column));
  const { email, phone, dateOfBirth, taxId } = LEGACY_CUSTOMER;
  await db.insert(customers).values({
    id,
    orgId: rowIdOf(tenant.orgId, "Organization")!,
    name: LEGACY_CUSTOMER.name,
    emailEnc: seal(email, "email"),
    emailBidx: new BlindIndex(Buffer.from(INDEX_1, "base64")).email(email),
    phoneEnc: seal(phone, "phone"),
    dateOfBirthEnc: seal(dateOfBirth, "date_of_birth"),
    taxIdEnc: seal(taxId, "tax_id"),
    taxIdLast4Enc: seal(taxId.slice(-4), "tax_id_last4"),
  });
  return toGlobalId("Customer", id);
}

async function readAll(url: string, token: string) {
  const res = await gql(
    url,
    `{ customers(first: 100) { totalCount nodes { ${CUSTOMER_FIELDS} } } }`,
    {},
    { token },
  );
  const data = dataOf(res);
  return data.customers.nodes as Record<string, string | null>[];
}

beforeAll(async () => {
  fresh = await freshDatabase();
  const onA = await start({
    PII_KEYS: `ka:${A}`,
    PII_ACTIVE_KEY: "ka",
    BLIND_INDEX_KEY: INDEX_1,
    SEED_DEMO_DATA: "true",
  });
  tenant = await createTenant(onA.url, "rotate");
  for (let i = 0; i < 14; i++) {
    await createCustomer(onA.url, tenant.members.AGENT.token, {
      name: `Rotating ${String(i).padStart(2, "0")}`,
      email: `rotating.${i}@rotate.example`,
      phone: `+1415555${String(1000 + i)}`,
      dateOfBirth: `19${50 + i}-0${(i % 9) + 1}-1${i % 9}`,
      taxId: `RT-${1000 + i}`,
      ...(i % 5 === 0 ? { phone: null, taxId: null } : {}),
    });
  }
  for (const customer of await readAll(onA.url, tenant.members.ADMIN.token)) {
    expected.set(customer.id!, customer);
  }
}, 120_000);

afterAll(async () => {
  for (const server of servers) await server.close();
  await fresh?.drop();
});

describe("field key rotation A -> B, online", () => {
  it("re-encrypts every value under B while clients keep reading and writing", async () => {
    // Step 1 of the procedure: every instance has both keys and encrypts under B.
    const onAB = await start({
      PII_KEYS: `ka:${A},kb:${B}`,
      PII_ACTIVE_KEY: "kb",
      BLIND_INDEX_KEY: INDEX_1,
    });
    await servers.shift()!.close(); // the instance with only A is gone (rolling deploy done)
    const { db } = onAB.app.services.database;
    const { cipher } = onAB.app.services;
    const token = tenant.members.ADMIN.token;
    const demoToken = (await logIn(onAB.url, "admin@acme.example", DEMO_PASSWORD)).accessToken;
    const demoBefore = await readAll(onAB.url, demoToken);
    expect(demoBefore).toHaveLength(3);

    // A row of the previous release, written under A by an instance still running it: one
    // ciphertext per field, no envelope. The rotation covers its columns too.
    const legacyId = await insertLegacyCustomer(
      db,
      new FieldCipher(new Map([["ka", Buffer.from(A, "base64")]]), "ka"),
    );
    expected.set(legacyId, { id: legacyId, ...LEGACY_CUSTOMER, taxIdLast4: "4444" });

    const total = await countValuesNotUnder(db, "kb");
    // 8 demo + 4 tenant users (email, no phone); 5 demo customers × (envelope, tax id);
    // 14 fixtures, 3 without a tax id; the legacy row's 5 columns
    expect(total).toBe(12 + 5 * 2 + (14 * 2 - 3) + 5);

    // A crash after the first batch: what was committed stays, the next run continues.
    await expect(
      rotateFieldKeys(db, cipher, {
        batchSize: 4,
        onBatch: () => {
          throw new Error("simulated crash");
        },
      }),
    ).rejects.toThrow("simulated crash");
    const afterCrash = await countValuesNotUnder(db, "kb");
    expect(afterCrash).toBeLessThan(total);
    expect(afterCrash).toBeGreaterThan(0);

    // The writer: one customer's phone changes during the rotation and must never go back.
    const [writtenId] = [...expected.keys()].filter((id) => expected.get(id)!.phone);
    const phonesWritten: string[] = [];
    const write = async (n: number) => {
      const phone = `+1202555${String(7000 + n)}`;
      phonesWritten.push(phone);
      dataOf(
        await gql(
          onAB.url,
          `mutation($id: ID!, $phone: String) { updateCustomer(id: $id, input: { phone: $phone }) { id } }`,
          { id: writtenId, phone },
          { token },
        ),
      );
    };

    let mismatches: string[] = [];
    const check = (rows: Record<string, string | null>[]) => {
      expect(rows).toHaveLength(expected.size);
      for (const row of rows) {
        const want = expected.get(row.id!)!;
        for (const [field, value] of Object.entries(want)) {
          if (row.id === writtenId && field === "phone") {
            if (![want.phone, ...phonesWritten].includes(row.phone ?? null))
              mismatches.push(`${row.id}.phone`);
          } else if (row[field] !== value) mismatches.push(`${row.id}.${field}`);
        }
      }
    };

    let rotating = true;
    let readsDuringRotation = 0;
    const reader = (async () => {
      for (let i = 0; rotating && i < 1000; i++) {
        check(await readAll(onAB.url, token));
        readsDuringRotation++;
      }
    })();
    let batches = 0;
    const writes: Promise<void>[] = [];
    const report = await rotateFieldKeys(db, cipher, {
      batchSize: 4,
      onBatch: async () => {
        batches++;
        if (batches <= 3) writes.push(write(batches)); // runs on into the next batch
        check(await readAll(onAB.url, token)); // between batches, deterministically
        expect(await readAll(onAB.url, demoToken)).toEqual(demoBefore);
      },
    });
    rotating = false;
    await Promise.all([reader, ...writes]);

    expect(mismatches).toEqual([]);
    expect(batches).toBeGreaterThan(5);
    expect(readsDuringRotation).toBeGreaterThan(0);
    expect(report.failures).toEqual([]);
    expect(report.remaining).toBe(0);
    const rotated = report.tables.users!.values + report.tables.customers!.values;
    expect(rotated).toBeGreaterThanOrEqual(afterCrash - 3); // writes may have re-encrypted some
    expect(rotated).toBeLessThanOrEqual(afterCrash);

    // No value is under A any more, checked in raw SQL on every encrypted column.
    const [left] = await rawRows<{ n: number }>(
      db,
      sql`select count(*)::int as n from (
            select email_enc as v from users union all select phone_enc from users
            union all select contact_enc from customers union all select tax_id_enc from customers
            union all select email_enc from customers union all select phone_enc from customers
            union all select date_of_birth_enc from customers
            union all select tax_id_last4_enc from customers) s
          where v is not null and v not like 'v1.kb.%'`,
    );
    expect(left!.n).toBe(0);
    const [legacy] = await rawRows<{ contact_enc: string | null; phone_enc: string | null }>(
      db,
      sql`select contact_enc, phone_enc from customers where id = ${rowIdOf(legacyId, "Customer")}::uuid`,
    );
    expect(legacy).toEqual({ contact_enc: null, phone_enc: expect.stringMatching(/^v1\.kb\./) });

    // The writer's last value won: the rotation never wrote back a stale ciphertext.
    const [after] = await Promise.all([readAll(onAB.url, token)]);
    expect(after.find((c) => c.id === writtenId)!.phone).toBe(phonesWritten.at(-1));

    // Key A can now be removed: an instance with only B reads everything (and, starting,
    // converts the legacy row to an envelope).
    const onB = await start({
      PII_KEYS: `kb:${B}`,
      PII_ACTIVE_KEY: "kb",
      BLIND_INDEX_KEY: INDEX_1,
    });
    mismatches = [];
    check(await readAll(onB.url, token));
    expect(mismatches).toEqual([]);
    const [converted] = await rawRows<{ contact_enc: string | null; phone_enc: string | null }>(
      db,
      sql`select contact_enc, phone_enc from customers where id = ${rowIdOf(legacyId, "Customer")}::uuid`,
    );
    expect(converted).toEqual({ contact_enc: expect.stringMatching(/^v1\.kb\./), phone_enc: null });
    expect(await readAll(onB.url, demoToken)).toEqual(demoBefore);

    // Running it again finds nothing to do.
    const again = await rotateFieldKeys(db, cipher, { batchSize: 4 });
    expect(again).toEqual({
      tables: { users: { rows: 0, values: 0 }, customers: { rows: 0, values: 0 } },
      failures: [],
      remaining: 0,
    });
  });
});

describe("blind-index key rotation, online", () => {
  const base = { PII_KEYS: `kb:${B}`, PII_ACTIVE_KEY: "kb" };
  const signUp = (url: string, email: string) =>
    gql(url, `mutation($input: SignUpInput!) { signUp(input: $input) { user { email } } }`, {
      input: { organizationName: "Idx", displayName: "Idx", email, password: PASSWORD },
    });
  const canLogIn = async (url: string, email: string) => {
    const session = await logIn(url, email);
    return typeof session.accessToken === "string";
  };
  const filterByEmail = async (url: string, email: string) => {
    const res = await gql(
      url,
      `query($e: String!) { customers(filter: { email: $e }) { nodes { name email } } }`,
      { e: email },
      { token: tenant.members.ADMIN.token },
    );
    return dataOf(res).customers.nodes as { name: string; email: string }[];
  };

  it("fills the next index, serves both keys during the deploy, then swaps", async () => {
    // Step 1: every instance gets BLIND_INDEX_KEY_NEXT; writes fill both index columns.
    const transition = await start({
      ...base,
      BLIND_INDEX_KEY: INDEX_1,
      BLIND_INDEX_KEY_NEXT: INDEX_2,
    });
    const early = uniqueEmail("early");
    dataOf(await signUp(transition.url, early));
    expect(await canLogIn(transition.url, tenant.members.VIEWER.email)).toBe(true);

    // Step 2: the backfill.
    const { db } = transition.app.services.database;
    const { cipher, blindIndex } = transition.app.services;
    const backfill = await backfillNextBlindIndex(db, cipher, blindIndex, { batchSize: 5 });
    expect(backfill.failures).toEqual([]);
    expect(backfill.remaining).toBe(0);
    // every user and every customer with an email, except `early` (written with both)
    expect(backfill.tables).toEqual({ users: { rows: 12 }, customers: { rows: 20 } });

    // Step 3: instances move to the new key one by one; old and new run side by side.
    const renewed = await start({ ...base, BLIND_INDEX_KEY: INDEX_2 });
    for (const url of [transition.url, renewed.url]) {
      expect(await canLogIn(url, tenant.members.ADMIN.email)).toBe(true);
      expect(await canLogIn(url, early)).toBe(true);
      expect(await filterByEmail(url, " ROTATING.3@rotate.example ")).toEqual([
        { name: "Rotating 03", email: "rotating.3@rotate.example" },
      ]);
    }
    const late = uniqueEmail("late");
    dataOf(await signUp(renewed.url, late));
    expect(await canLogIn(transition.url, late)).toBe(true);
    // one account per email whichever instance wrote it
    expect(codesOf(await signUp(renewed.url, early))).toEqual(["BAD_USER_INPUT"]);
    expect(codesOf(await signUp(transition.url, late.toUpperCase()))).toEqual(["BAD_USER_INPUT"]);

    // Step 4: with every instance on the new key, the next column moves into email_bidx.
    await servers.splice(servers.indexOf(transition), 1)[0]!.close();
    await expect(finalizeBlindIndex(db, cipher, blindIndex)).rejects.toThrow(
      /BLIND_INDEX_KEY_NEXT/,
    );
    const renewedServices = renewed.app.services;
    const final = await finalizeBlindIndex(
      renewedServices.database.db,
      renewedServices.cipher,
      renewedServices.blindIndex,
      { batchSize: 5 },
    );
    expect(final.failures).toEqual([]);
    expect(final.remaining).toBe(0);
    expect(final.tables).toEqual({ users: { rows: 13 }, customers: { rows: 20 } });
    const [pending] = await rawRows<{ n: number }>(
      renewedServices.database.db,
      sql`select (select count(*) from users where email_bidx_next is not null)
               + (select count(*) from customers where email_bidx_next is not null) as n`,
    );
    expect(Number(pending!.n)).toBe(0);
    for (const email of [tenant.members.ADMIN.email, early, late]) {
      expect(await canLogIn(renewed.url, email)).toBe(true);
    }
    expect(
      (await logIn(renewed.url, "agent@globex.example", DEMO_PASSWORD)).accessToken,
    ).toBeTruthy();
    expect(await filterByEmail(renewed.url, "rotating.3@rotate.example")).toHaveLength(1);
    await expect(backfillNextBlindIndex(db, cipher, renewedServices.blindIndex)).rejects.toThrow(
      /BLIND_INDEX_KEY_NEXT/,
    );
  });
});
