import { uuidv7 } from "../../src/db/uuidv7.js";
import { customers, notes, organizations, type Role } from "../../src/db/schema.js";
import type { Services } from "../../src/graphql/types.js";
import { encryptCustomerFields } from "../../src/modules/customers/customers.repository.js";
import { insertUser } from "../../src/modules/users/users.repository.js";

export interface DatasetSize {
  organizations: number;
  usersPerOrganization: number;
  customersPerOrganization: number;
  notesPerCustomer: number;
}

export const BENCH_DATASET: DatasetSize = {
  organizations: 2,
  usersPerOrganization: 25,
  customersPerOrganization: 5_000,
  notesPerCustomer: 5,
};

export const BENCH_PASSWORD = "bench-password-2026";

/** The roles of an organization's users: 2 admins, 2 auditors, 4 viewers, the rest agents. */
function roleOf(index: number): Role {
  if (index < 2) return "ADMIN";
  if (index < 4) return "AUDITOR";
  if (index < 8) return "VIEWER";
  return "AGENT";
}

/** Rows per INSERT statement. */
const CUSTOMERS_PER_BATCH = 1_000;
const SURNAMES = ["Lovelace", "Hopper", "Turing", "Johnson", "Dijkstra"];
const pad2 = (n: number) => String(n).padStart(2, "0");

/** Who signs in to one organization of the data set (password BENCH_PASSWORD). */
export interface SeededMembers {
  agents: string[];
  admin: string;
}

/**
 * Seeds organizations with users, customers (every personal field, encrypted and blind-indexed
 * by the repository's own encryptCustomerFields) and notes, in bulk inserts of 1,000 rows
 * built a batch at a time.
 * Returns the emails of the AGENTs and of one ADMIN of each organization. `label` keeps the emails of
 * several copies of the data set apart.
 */
export async function seedDataset(
  services: Services,
  size: DatasetSize,
  label: string,
): Promise<SeededMembers[]> {
  const { db } = services.database;
  const passwordHash = await services.passwords.hash(BENCH_PASSWORD, {
    key: "seed",
    until: undefined,
  });
  const members: SeededMembers[] = [];
  for (let o = 0; o < size.organizations; o++) {
    const orgId = uuidv7();
    await db
      .insert(organizations)
      .values({ id: orgId, name: `Bench ${label} organization ${o + 1}` });
    const userIds: string[] = [];
    const agents: string[] = [];
    let admin: string | undefined;
    for (let u = 0; u < size.usersPerOrganization; u++) {
      const role = roleOf(u);
      const email = `${role.toLowerCase()}.${u}@${label}-org${o + 1}.bench.example`;
      const user = await insertUser(db, services, {
        orgId,
        displayName: `${role[0]}${role.slice(1).toLowerCase()} ${u} of organization ${o + 1}`,
        email,
        phone: `+4420700${String(o * 100 + u).padStart(5, "0")}`,
        role,
        passwordHash,
      });
      userIds.push(user.id);
      if (role === "AGENT") agents.push(email);
      if (role === "ADMIN") admin ??= email;
    }
    members.push({ agents, admin: admin! });
    // Rows are built and inserted a batch at a time, so the seed never holds the data set.
    for (let first = 0; first < size.customersPerOrganization; first += CUSTOMERS_PER_BATCH) {
      const customerRows: (typeof customers.$inferInsert)[] = [];
      const noteRows: (typeof notes.$inferInsert)[] = [];
      const last = Math.min(first + CUSTOMERS_PER_BATCH, size.customersPerOrganization);
      for (let c = first; c < last; c++) {
        const id = uuidv7();
        const n = o * size.customersPerOrganization + c;
        const name = `Customer ${n} ${SURNAMES[n % SURNAMES.length]}`;
        customerRows.push({
          id,
          orgId,
          name,
          createdByUserId: userIds[c % userIds.length]!,
          ...encryptCustomerFields(services, id, {
            name,
            email: `customer.${n}@mail.bench.example`,
            phone: `+1415${String(n).padStart(7, "0")}`,
            dateOfBirth: `19${50 + (n % 50)}-${pad2(1 + (n % 12))}-${pad2(1 + (n % 28))}`,
            taxId: `${100 + (n % 900)}-${10 + (n % 90)}-${String(n % 10_000).padStart(4, "0")}`,
          }),
        });
        for (let k = 0; k < size.notesPerCustomer; k++) {
          noteRows.push({
            id: uuidv7(),
            orgId,
            customerId: id,
            authorId: userIds[(c + k) % userIds.length]!,
            body: `Call ${k + 1} with customer ${n}: discussed the renewal of their policy and the documents still missing.`,
            private: k === size.notesPerCustomer - 1,
          });
        }
      }
      await db.insert(customers).values(customerRows);
      for (let i = 0; i < noteRows.length; i += CUSTOMERS_PER_BATCH) {
        await db.insert(notes).values(noteRows.slice(i, i + CUSTOMERS_PER_BATCH));
      }
    }
  }
  return members;
}
