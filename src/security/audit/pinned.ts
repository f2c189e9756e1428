import { and, eq } from "drizzle-orm";
import type { Database } from "../../db/client.js";
import { auditCheckpoints, auditEvents } from "../../db/schema.js";
import { signatureIsValid } from "./checkpoint.js";
import type { TrustedKeys } from "./signing.js";
import { checkpointOfLine, type PinnedCheckpoint } from "./verify-export.js";

export type { PinnedCheckpoint } from "./verify-export.js";

/*
 * Checkpoints kept outside the database (pinned by an auditor from Query.auditCheckpoint, or
 * the "audit checkpoint" lines a SIEM kept from the logs). A database rewritten behind the
 * service can be made consistent again, checkpoints included; it cannot be made to hold a
 * checkpoint kept elsewhere once the events it signed are gone. `audit:verify --pinned` checks
 * the database, or an export, against them.
 */

export type PinnedProblem = { line: number; message: string };

/**
 * The checkpoints of a file of export lines or log lines (other lines are skipped), each
 * signed by a trusted key; or the first line that holds a checkpoint that is not.
 */
export function readPinned(
  text: string,
  keys: TrustedKeys,
): { pinned: PinnedCheckpoint[] } | { problem: PinnedProblem } {
  const pinned: PinnedCheckpoint[] = [];
  const lines = text.split("\n");
  for (const [index, raw] of lines.entries()) {
    if (!raw.includes('"checkpoint"')) continue;
    const checkpoint = checkpointOfLine(raw.trim());
    const line = index + 1;
    if (typeof checkpoint === "string") {
      if (checkpoint === "not a checkpoint") continue;
      return { problem: { line, message: `pinned line ${line}: ${checkpoint}` } };
    }
    if (!signatureIsValid(keys, checkpoint)) {
      return {
        problem: { line, message: `pinned line ${line}: not signed by a key trusted here` },
      };
    }
    pinned.push({ line, checkpoint });
  }
  return { pinned };
}

/** The first pinned checkpoint the database no longer holds as signed, with its event. */
export async function checkPinnedInDatabase(
  db: Database,
  pinned: readonly PinnedCheckpoint[],
): Promise<PinnedProblem | undefined> {
  for (const { line, checkpoint } of pinned) {
    const [stored] = await db
      .select()
      .from(auditCheckpoints)
      .where(eq(auditCheckpoints.id, checkpoint.id));
    const [event] = await db
      .select({ hash: auditEvents.hash })
      .from(auditEvents)
      .where(and(eq(auditEvents.chainId, checkpoint.chainId), eq(auditEvents.seq, checkpoint.seq)));
    const what = `the checkpoint of chain ${checkpoint.chainId} seq ${checkpoint.seq} pinned on line ${line}`;
    if (!stored || stored.signature !== checkpoint.signature) {
      return { line, message: `${what} is not in the database: its checkpoints were rewritten` };
    }
    if (event?.hash !== checkpoint.hash) {
      return {
        line,
        message: `${what} signed an event the database no longer has: the chain was rewritten`,
      };
    }
  }
  return undefined;
}
