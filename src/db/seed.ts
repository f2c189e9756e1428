import { count } from "drizzle-orm";
import { uuidv7 } from "./uuidv7.js";
import type { Services } from "../graphql/types.js";
import { insertCustomer } from "../modules/customers/customers.repository.js";
import { insertUser } from "../modules/users/users.repository.js";
import { notes, organizations, type Role } from "./schema.js";

/** The password of every demo user (README "Try it"). Demo data is never seeded in production. */
export const DEMO_PASSWORD = "demo-password-2026";

const ROLES: Role[] = ["ADMIN", "AGENT", "VIEWER", "AUDITOR"];

export const DEMO_ORGANIZATIONS = [
  {
    name: "Acme Insurance",
    domain: "acme.example",
    customers: [
      {
        name: "Ada Lovelace",
        email: "ada@lovelace.example",
        phone: "+442071234567",
        dateOfBirth: "1985-12-10",
        taxId: "AB-123456-C",
      },
      {
        name: "Grace Hopper",
        email: "grace@hopper.example",
        phone: "+12025550143",
        dateOfBirth: "1976-12-09",
        taxId: "123-45-6789",
      },
      {
        name: "Alan Turing",
        email: "alan@turing.example",
        phone: "+441619876543",
        dateOfBirth: "1982-06-23",
        taxId: "CD-654321-E",
      },
    ],
  },
  {
    name: "Globex Bank",
    domain: "globex.example",
    customers: [
      {
        name: "Katherine Johnson",
        email: "katherine@johnson.example",
        phone: "+17575550188",
        dateOfBirth: "1968-08-26",
        taxId: "987-65-4321",
      },
      {
        name: "Edsger Dijkstra",
        email: "edsger@dijkstra.example",
        phone: "+31205550123",
        dateOfBirth: "1970-05-11",
        taxId: "NL-7788-99",
      },
    ],
  },
];

export async function seedDemoDataIfEmpty(services: Services): Promise<boolean> {
  const { db } = services.database;
  const [existing] = await db.select({ n: count() }).from(organizations);
  if ((existing?.n ?? 0) > 0) return false;
  const passwordHash = await services.passwords.hash(DEMO_PASSWORD, {
    key: "seed",
    until: undefined,
  });
  await db.transaction(async (tx) => {
    for (const demo of DEMO_ORGANIZATIONS) {
      const orgId = uuidv7();
      await tx.insert(organizations).values({ id: orgId, name: demo.name });
      const people: Record<string, string> = {};
      for (const role of ROLES) {
        const user = await insertUser(tx, services, {
          orgId,
          displayName: `${demo.name.split(" ")[0]} ${role.toLowerCase()}`,
          email: `${role.toLowerCase()}@${demo.domain}`,
          role,
          passwordHash,
        });
        people[role] = user.id;
      }
      for (const [i, customer] of demo.customers.entries()) {
        const row = await insertCustomer(
          tx,
          services,
          { orgId, name: customer.name, createdByUserId: people.AGENT!, createdByClientId: null },
          customer,
        );
        await tx.insert(notes).values([
          {
            id: uuidv7(),
            orgId,
            customerId: row.id,
            authorId: people.AGENT!,
            body: `Called ${customer.name}: renewal due next month.`,
          },
          ...(i === 0
            ? [
                {
                  id: uuidv7(),
                  orgId,
                  customerId: row.id,
                  authorId: people.AGENT!,
                  body: "Private: prefers contact by email only.",
                  private: true,
                },
              ]
            : []),
        ]);
      }
    }
  });
  services.logger.info('seeded demo data (two organizations; see README "Try it")');
  return true;
}
