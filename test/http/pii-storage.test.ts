import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_ORGANIZATIONS } from "../../src/db/seed.js";
import { createCustomer, createTenant, type Tenant } from "../support/fixtures.js";
import { freshDatabase, type FreshDatabase, rawRows } from "../support/fresh-database.js";
import { dataOf, gql } from "../support/graphql.js";
import { startServer, type TestServer } from "../support/server.js";

/*
 * Personal data at rest: after the demo seed and the test fixtures, no column of any table of
 * the raw database holds a plaintext personal value. A fresh database, so the scan sees all.
 */

let fresh: FreshDatabase;
let server: TestServer;
let tenant: Tenant;
const fixture = {
  name: "Scan Subject",
  email: "scan.subject@pii-scan.example",
  phone: "+14155550999",
  dateOfBirth: "1971-03-14",
  taxId: "ZZ-918273-Q",
};
const userPhone = "+447700900123";

beforeAll(async () => {
  fresh = await freshDatabase();
  server = await startServer({ ...fresh.env, SEED_DEMO_DATA: "true" }, { pglite: fresh.pglite });
  tenant = await createTenant(server.url, "scan");
  await createCustomer(server.url, tenant.members.AGENT.token, fixture);
  dataOf(
    await gql(
      server.url,
      `mutation($input: UpdateMeInput!) { updateMe(input: $input) { id } }`,
      { input: { phone: userPhone } },
      { token: tenant.members.VIEWER.token },
    ),
  );
  // a lookup by email too: the filter value must not be kept anywhere either
  dataOf(
    await gql(
      server.url,
      `query($email: String!) { customers(filter: { email: $email }) { totalCount } }`,
      { email: fixture.email },
      { token: tenant.members.ADMIN.token },
    ),
  );
});

afterAll(async () => {
  await server?.close();
  await fresh?.drop();
});

function plaintextValues(): string[] {
  const demo = DEMO_ORGANIZATIONS.flatMap((org) => [
    ...["admin", "agent", "viewer", "auditor"].map((role) => `${role}@${org.domain}`),
    ...org.customers.flatMap((c) => [c.email, c.phone, c.dateOfBirth, c.taxId]),
  ]);
  const fixtures = [
    ...Object.values(tenant.members).map((m) => m.email),
    fixture.email,
    fixture.phone,
    fixture.dateOfBirth,
    fixture.taxId,
    userPhone,
  ];
  return [...demo, ...fixtures];
}

/** Every value of every column of every table, as text, keyed by table.column. */
async function dumpDatabase(): Promise<Map<string, string>> {
  const { db } = server.app.services.database;
  const columns = await rawRows<{ table_schema: string; table_name: string; column_name: string }>(
    db,
    sql`select c.table_schema, c.table_name, c.column_name
          from information_schema.columns c
          join information_schema.tables t
            on t.table_schema = c.table_schema and t.table_name = c.table_name
         where t.table_type = 'BASE TABLE'
           and c.table_schema not in ('pg_catalog', 'information_schema')`,
  );
  const dump = new Map<string, string>();
  for (const c of columns) {
    const [row] = await rawRows<{ text: string | null }>(
      db,
      sql`select string_agg(${sql.identifier(c.column_name)}::text, ' | ') as text
            from ${sql.identifier(c.table_schema)}.${sql.identifier(c.table_name)}`,
    );
    dump.set(`${c.table_schema}.${c.table_name}.${c.column_name}`, row?.text ?? "");
  }
  return dump;
}

describe("personal data at rest", () => {
  it("no table or column of the raw database holds a plaintext personal value", async () => {
    const dump = await dumpDatabase();
    // the scan is not vacuous: it covers the tables and sees what is stored in the clear
    expect([...dump.keys()]).toEqual(
      expect.arrayContaining([
        "public.users.email_enc",
        "public.customers.contact_enc",
        "public.customers.tax_id_enc",
        "public.customers.name",
        "public.audit_events.variables",
      ]),
    );
    expect(dump.get("public.customers.name")).toContain(fixture.name);
    expect(dump.get("public.customers.name")).toContain("Ada Lovelace");

    const values = plaintextValues();
    expect(values).toHaveLength(37); // 8 demo users, 5×4 demo customer values, 9 fixtures
    const found: string[] = [];
    for (const [column, text] of dump) {
      const haystack = text.toLowerCase();
      for (const value of values) {
        if (haystack.includes(value.toLowerCase())) found.push(`${value} in ${column}`);
      }
    }
    expect(found).toEqual([]);
  });

  it("stores every value in the v1.<keyId>.<iv|ct|tag> format and a blind index per email", async () => {
    const rows = await rawRows<Record<string, string | null>>(
      server.app.services.database.db,
      sql`select id, contact_enc, email_bidx, tax_id_enc,
                 email_enc, phone_enc, date_of_birth_enc, tax_id_last4_enc
            from customers where name = ${fixture.name}`,
    );
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    const keyId = server.app.services.cipher.activeKeyId;
    for (const column of ["contact_enc", "tax_id_enc"]) {
      expect(row[column]).toMatch(new RegExp(`^v1\\.${keyId}\\.[A-Za-z0-9_-]{40,}$`));
    }
    // one envelope of the contact fields, bound to the row's "contact" column; the full tax id
    // is not in it (a role that reads contact data never decrypts it)
    const envelope = server.app.services.cipher.decrypt(row.contact_enc!, {
      table: "customers",
      column: "contact",
      rowId: row.id!,
    });
    expect(JSON.parse(envelope)).toEqual({
      email: fixture.email,
      phone: fixture.phone,
      dateOfBirth: fixture.dateOfBirth,
      taxIdLast4: "73-Q",
    });
    // new writes leave the legacy per-field columns empty
    expect(row).toMatchObject({
      email_enc: null,
      phone_enc: null,
      date_of_birth_enc: null,
      tax_id_last4_enc: null,
    });
    expect(row.email_bidx).toBe(server.app.services.blindIndex.email(fixture.email));
    // and the API still reads them back for whoever may see them
    const res = await gql(
      server.url,
      `query($email: String!) { customers(filter: { email: $email }) {
        nodes { email phone dateOfBirth taxId taxIdLast4 } } }`,
      { email: fixture.email.toUpperCase() },
      { token: tenant.members.ADMIN.token },
    );
    const { name: _name, ...pii } = fixture;
    expect(dataOf(res).customers.nodes).toEqual([{ ...pii, taxIdLast4: "73-Q" }]);
  });
});
