import { uuidv7 } from "../../src/db/uuidv7.js";
import { type AuditEventDraft, chainOf } from "../../src/security/audit/event.js";
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

/**
 * An audit event ready to append, as the chain writers take it: an anonymous query without an
 * organization unless `overrides` say otherwise (its chain follows its organization).
 */
export function auditDraft(overrides: Partial<AuditEventDraft> = {}): AuditEventDraft {
  const orgId = overrides.orgId ?? null;
  return {
    id: uuidv7(),
    chainId: chainOf(orgId),
    orgId,
    at: new Date(),
    actorType: "ANONYMOUS",
    actorId: null,
    ip: "203.0.113.9",
    userAgent: "audit-test",
    operationType: "query",
    operationName: "AuditTest",
    documentHash: "cd".repeat(32),
    variables: null,
    outcome: "SUCCESS",
    errorCodes: [],
    sensitiveFields: [],
    deniedFields: [],
    requestedCost: 1,
    actualCost: 1,
    requestId: uuidv7(),
    durationMs: 1,
    ...overrides,
  };
}
