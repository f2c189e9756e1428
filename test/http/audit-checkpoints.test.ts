import { tmpdir } from "node:os";
import { desc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DatabaseHandle, openDatabase } from "../../src/db/client.js";
import { auditChains, auditCheckpoints } from "../../src/db/schema.js";
import { rowIdOf } from "../../src/graphql/ids.js";
import { createLogger } from "../../src/logger.js";
import { signatureIsValid } from "../../src/security/audit/checkpoint.js";
import { parsePublicKey, TrustedKeys } from "../../src/security/audit/signing.js";
import { verifyExport } from "../../src/security/audit/verify-export.js";
import { createApiClient } from "../support/api-clients.js";
import { createCustomer, createTenant, type Tenant } from "../support/fixtures.js";
import { freshDatabase, type FreshDatabase } from "../support/fresh-database.js";
import { codesOf, dataOf, gql } from "../support/graphql.js";
import { secretsOf, startServer, type TestServer, testTrustedKeys } from "../support/server.js";

/*
 * Signed checkpoints as a running server writes them: on its timer for every chain that moved,
 * at shutdown for the chains it wrote to, each as one JSON line in the log; and the latest one
 * of an organization as its ADMIN and AUDITOR read it through GraphQL, to pin elsewhere. On a
 * database of its own: a server elsewhere would checkpoint these chains on its own timer.
 */

const logLines: string[] = [];
const logSink = { write: (line: string) => void logLines.push(line) };

let fresh: FreshDatabase;
let reader: DatabaseHandle;
let server: TestServer;
let serverClosed = false;
let tenant: Tenant;
let orgId: string;

const LATEST = `{ auditCheckpoint { seq hash at previous keyId signature line publicKey } }`;

const headOf = async (chainId: string) => {
  const [head] = await reader.db.select().from(auditChains).where(eq(auditChains.chainId, chainId));
  return head;
};

const checkpointsOf = (chainId: string) =>
  reader.db
    .select()
    .from(auditCheckpoints)
    .where(eq(auditCheckpoints.chainId, chainId))
    .orderBy(desc(auditCheckpoints.seq));

beforeAll(async () => {
  fresh = await freshDatabase();
  server = await startServer(
    { ...fresh.env, AUDIT_CHECKPOINT_SECONDS: "1", AUDIT_FLUSH_MS: "50" },
    { logger: createLogger("info", logSink), ...(fresh.pglite ? { pglite: fresh.pglite } : {}) },
  );
  reader = await openDatabase({
    ...(fresh.pglite ? { pglite: fresh.pglite } : { databaseUrl: fresh.env.DATABASE_URL! }),
    dataDir: tmpdir(),
    statementTimeoutMs: 5000,
  });
  tenant = await createTenant(server.url, "checkpoints");
  orgId = rowIdOf(tenant.orgId, "Organization")!;
});

afterAll(async () => {
  if (!serverClosed) await server?.close();
  if (!fresh.pglite) await reader?.close();
  await fresh?.drop();
});

describe("checkpoints on the timer", () => {
  it("checkpoint a chain that moved within AUDIT_CHECKPOINT_SECONDS, logged as one JSON line", async () => {
    await createCustomer(server.url, tenant.members.ADMIN.token, { name: "Checkpointed" });
    await server.app.audit.flush();
    const head = (await headOf(orgId))!;
    await expect
      .poll(async () => (await checkpointsOf(orgId))[0]?.seq ?? 0, { timeout: 10_000 })
      .toBeGreaterThanOrEqual(head.seq);
    const [latest] = await checkpointsOf(orgId);
    expect(signatureIsValid(testTrustedKeys(), latest!)).toBe(true);

    const logged = logLines
      .map((line) => JSON.parse(line) as { msg: string; checkpoint?: { id: string } })
      .filter((entry) => entry.msg === "audit checkpoint");
    const line = logged.find((entry) => entry.checkpoint?.id === latest!.id);
    expect(line?.checkpoint).toEqual({
      type: "checkpoint",
      ...latest,
      at: latest!.at.toISOString(),
    });
  });

  it("write nothing for a chain that did not move", async () => {
    await server.app.audit.checkpoint(); // everything so far, checkpointed
    const before = await checkpointsOf(orgId);
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // two rounds of the timer
    expect(await checkpointsOf(orgId)).toEqual(before);
    expect(before[0]?.seq).toBe((await headOf(orgId))!.seq);
  });
});

describe("Query.auditCheckpoint", () => {
  it("gives ADMIN and AUDITOR their organization's latest checkpoint, which verifies as an export line", async () => {
    await createCustomer(server.url, tenant.members.ADMIN.token, { name: "Pinned" });
    for (const role of ["ADMIN", "AUDITOR"] as const) {
      await server.app.audit.checkpoint();
      // the timer (every second here) may add one between this read and the query: never fewer
      const [before] = await checkpointsOf(orgId);
      const { auditCheckpoint } = dataOf(
        await gql<{ auditCheckpoint: Record<string, string> }>(
          server.url,
          LATEST,
          {},
          { token: tenant.members[role].token },
        ),
      );
      expect(Number(auditCheckpoint.seq)).toBeGreaterThanOrEqual(before!.seq);
      const stored = (await checkpointsOf(orgId)).find(
        (checkpoint) => String(checkpoint.seq) === auditCheckpoint.seq,
      );
      expect(auditCheckpoint).toMatchObject({
        hash: stored!.hash,
        at: stored!.at.toISOString(),
        previous: stored!.previous,
        keyId: stored!.keyId,
        signature: stored!.signature,
      });
      // the pinned line, with the key the service gave, verifies as the start of an export
      const keys = new TrustedKeys([parsePublicKey(auditCheckpoint.publicKey!)]);
      expect(verifyExport(Buffer.from(`${auditCheckpoint.line}\n`), keys)).toMatchObject({
        intact: true,
        fromSeq: stored!.seq,
      });
    }
  });

  it("is refused to AGENT, VIEWER and a client without audit:read; a client with it reads it", async () => {
    for (const role of ["AGENT", "VIEWER"] as const) {
      const response = await gql(server.url, LATEST, {}, { token: tenant.members[role].token });
      expect(codesOf(response)).toEqual(["FORBIDDEN"]);
    }
    const reader = await createApiClient(server.url, tenant.members.ADMIN.token, [
      "customers:read",
    ]);
    expect(codesOf(await gql(server.url, LATEST, {}, { token: reader.token }))).toEqual([
      "FORBIDDEN",
    ]);
    const auditor = await createApiClient(server.url, tenant.members.ADMIN.token, ["audit:read"]);
    const { auditCheckpoint } = dataOf(
      await gql<{ auditCheckpoint: { seq: string } | null }>(
        server.url,
        `{ auditCheckpoint { seq } }`,
        {},
        { token: auditor.token },
      ),
    );
    expect(Number(auditCheckpoint?.seq)).toBeGreaterThan(0);
  });

  it("shows each organization only its own chain's checkpoint", async () => {
    const other = await createTenant(server.url, "checkpoints-other");
    await server.app.audit.checkpoint();
    const mine = dataOf(
      await gql<{ auditCheckpoint: { hash: string } }>(
        server.url,
        `{ auditCheckpoint { hash } }`,
        {},
        { token: tenant.members.AUDITOR.token },
      ),
    );
    const theirs = dataOf(
      await gql<{ auditCheckpoint: { hash: string; line: string } }>(
        server.url,
        `{ auditCheckpoint { hash line } }`,
        {},
        { token: other.members.AUDITOR.token },
      ),
    );
    expect(theirs.auditCheckpoint.hash).not.toBe(mine.auditCheckpoint.hash);
    expect(JSON.parse(theirs.auditCheckpoint.line)).toMatchObject({
      orgId: rowIdOf(other.orgId, "Organization"),
    });
  });
});

describe("checkpoints at shutdown", () => {
  it("checkpoint the chains the server wrote to, before its database closes", async () => {
    const lazy = await startServer(
      { ...fresh.env, ...secretsOf(server), AUDIT_CHECKPOINT_SECONDS: "86400" },
      fresh.pglite ? { pglite: fresh.pglite } : {},
    );
    await server.close(); // its timer would checkpoint what the lazy server writes
    serverClosed = true;
    await createCustomer(lazy.url, tenant.members.ADMIN.token, { name: "At shutdown" });
    const head = (await headOf(orgId))!;
    expect((await checkpointsOf(orgId))[0]!.seq).toBeLessThan(head.seq);
    await lazy.close();
    const after = (await headOf(orgId))!;
    const [latest] = await checkpointsOf(orgId);
    expect(latest).toMatchObject({ seq: after.seq, hash: after.hash });
  });
});
