import type { Tenant } from "./fixtures.js";
import { dataOf, gql } from "./graphql.js";

/**
 * Waits until the tenant has at least one audit event, so AuditEvent fields have a row to
 * resolve on. Setting the tenant up (createUser, createCustomer …) is audited by the server
 * itself: mutations in their own transaction, queries through the buffer within a second.
 */
export async function ensureAuditEvent(url: string, adminToken: string, _tenant: Tenant) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { auditEvents } = dataOf(
      await gql<{ auditEvents: { totalCount: number } }>(
        url,
        `{ auditEvents(first: 1) { totalCount } }`,
        {},
        { token: adminToken },
      ),
    );
    if (auditEvents.totalCount > 0) return;
    if (Date.now() > deadline) throw new Error("the tenant's operations were never audited");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
