import { randomInt } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import { auditEvents } from "../../src/db/schema.js";
import { fromGlobalId } from "../../src/graphql/ids.js";
import type { Tenant } from "./fixtures.js";
import { dataOf, gql } from "./graphql.js";
import { sharedTestServer } from "./server.js";

/**
 * At least one audit event in the tenant, so AuditEvent fields have a row to resolve on. When
 * the server records none itself (yet), one is written straight to the table.
 */
export async function ensureAuditEvent(url: string, adminToken: string, tenant: Tenant) {
  const count = async () =>
    (
      dataOf(await gql(url, `{ auditEvents(first: 1) { totalCount } }`, {}, { token: adminToken }))
        .auditEvents as { totalCount: number }
    ).totalCount;
  if ((await count()) > 0) return;
  const { app } = await sharedTestServer();
  await app.services.database.db.insert(auditEvents).values({
    id: uuidv7(),
    seq: -randomInt(1, 2 ** 47),
    orgId: fromGlobalId(tenant.orgId)!.rowId,
    at: new Date(),
    actorType: "USER",
    actorId: fromGlobalId(tenant.members.ADMIN.id)!.rowId,
    operationType: "query",
    operationName: "Fixture",
    outcome: "SUCCESS",
    ip: "127.0.0.1",
    requestId: "fixture",
    durationMs: 1,
    prevHash: "fixture",
    hash: "fixture",
  });
}
