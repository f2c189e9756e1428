import type { AuditCheckpointRow, AuditEventRow } from "../../db/schema.js";
import { canonicalJson, nestedDeeperThan } from "./event.js";
import type { TrustedKeys } from "./signing.js";
import { CheckpointTrail, ChainWalk, genesisLink } from "./verify.js";

/*
 * Verifies an export (export.ts) with no database and no secret, only the public keys it is
 * told to trust: every line must be the canonical JSON of an event or a checkpoint; the events
 * must form their chain (links, hashes, seqs) from the start of the chain or from the export's
 * first checkpoint; every checkpoint must be signed by a trusted key, follow the previous one,
 * come right after the event it signed and state that event's hash; the last event must be
 * covered by a checkpoint. The first line that fails is reported.
 */

export type ExportReport =
  | {
      intact: true;
      chainId: string | null;
      /** Where the export starts: 0 from the chain's first event, else a checkpoint's seq. */
      fromSeq: number;
      events: number;
      checkpoints: number;
      lastSeq: number;
    }
  | { intact: false; line: number; message: string };

const EVENT_KEYS: readonly (keyof AuditEventRow)[] = [
  "id",
  "chainId",
  "seq",
  "orgId",
  "at",
  "actorType",
  "actorId",
  "ip",
  "userAgent",
  "operationType",
  "operationName",
  "documentHash",
  "variables",
  "outcome",
  "errorCodes",
  "sensitiveFields",
  "deniedFields",
  "requestedCost",
  "actualCost",
  "requestId",
  "durationMs",
  "prevHash",
  "hash",
];
const CHECKPOINT_KEYS: readonly (keyof AuditCheckpointRow)[] = [
  "id",
  "chainId",
  "orgId",
  "seq",
  "hash",
  "at",
  "previous",
  "keyId",
  "signature",
];

/** A checkpoint kept outside the service (see pinned.ts), with the line it was read from. */
export interface PinnedCheckpoint {
  line: number;
  checkpoint: AuditCheckpointRow;
}

class LineError extends Error {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** The form of every field the verifier computes with (hashes, links, signatures, ids). */
const SHAPES: Record<string, RegExp> = {
  id: UUID,
  chainId: UUID,
  orgId: UUID,
  actorId: UUID,
  prevHash: SHA256_HEX,
  hash: SHA256_HEX,
  previous: SHA256_HEX,
  keyId: /^[0-9a-f]{32}$/,
  signature: /^[A-Za-z0-9+/]{86}==$/,
};
/** Deeper than any record the service writes: refused before it is walked. */
const MAX_DEPTH = 64;

/** The record of a line, with exactly these keys (and `type`) and an exact ISO time. */
function recordOf(
  parsed: Record<string, unknown>,
  keys: readonly string[],
): Record<string, unknown> {
  const names = Object.keys(parsed).filter((name) => name !== "type");
  const missing = keys.filter((key) => !(key in parsed));
  const unknown = names.filter((name) => !keys.includes(name));
  if (missing.length > 0 || unknown.length > 0) {
    const faults = [
      missing.length > 0 && `missing ${missing.join(", ")}`,
      unknown.length > 0 && `unknown ${unknown.join(", ")}`,
    ];
    throw new LineError(faults.filter(Boolean).join("; "));
  }
  const at = parsed.at;
  if (typeof at !== "string" || Number.isNaN(Date.parse(at)) || new Date(at).toISOString() !== at) {
    throw new LineError("no valid time (at)");
  }
  if (typeof parsed.seq !== "number" || !Number.isSafeInteger(parsed.seq) || parsed.seq < 1) {
    throw new LineError("no valid seq");
  }
  for (const [key, pattern] of Object.entries(SHAPES)) {
    if (!(key in parsed)) continue;
    const value = parsed[key];
    const nullable = key === "orgId" || key === "actorId";
    if (!(nullable && value === null) && (typeof value !== "string" || !pattern.test(value))) {
      throw new LineError(`no valid ${key}`);
    }
  }
  const { type: _type, ...record } = parsed;
  return { ...record, at: new Date(at) };
}

function parseLine(text: string): {
  type: "event" | "checkpoint";
  record: Record<string, unknown>;
} {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new LineError("not JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new LineError("not a JSON object");
  }
  const fields = parsed as Record<string, unknown>;
  if (nestedDeeperThan(fields, MAX_DEPTH)) throw new LineError("nested deeper than any record");
  // one encoding per record: a byte changed anywhere (even one that JSON reads the same) shows
  if (canonicalJson(fields) !== text) throw new LineError("not as exported (not canonical JSON)");
  if (fields.type === "event") return { type: "event", record: recordOf(fields, EVENT_KEYS) };
  if (fields.type === "checkpoint") {
    return { type: "checkpoint", record: recordOf(fields, CHECKPOINT_KEYS) };
  }
  throw new LineError("neither an event nor a checkpoint");
}

/** Splits the export into lines: every line ends with a newline, none is empty. */
function linesOf(content: Buffer): string[] {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(content);
  } catch {
    // the first line that is not UTF-8
    const lines = content.toString("latin1").split("\n");
    const bad = lines.findIndex((line) => {
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(line, "latin1"));
        return false;
      } catch {
        return true;
      }
    });
    throw Object.assign(new LineError("not UTF-8"), { line: bad + 1 });
  }
  if (text === "") throw Object.assign(new LineError("the file is empty"), { line: 1 });
  const lines = text.split("\n");
  if (lines.at(-1) !== "") {
    throw Object.assign(new LineError("the file does not end with a newline (it was cut)"), {
      line: lines.length,
    });
  }
  return lines.slice(0, -1);
}

/** A checkpoint as an export line or a log line holds it, checked for form; else a message. */
export function checkpointOfLine(text: string): AuditCheckpointRow | string {
  try {
    const parsed = JSON.parse(text) as { type?: unknown; checkpoint?: { type?: unknown } };
    const fields = parsed?.type === "checkpoint" ? parsed : parsed?.checkpoint;
    if (fields?.type !== "checkpoint") return "not a checkpoint";
    return recordOf(fields, CHECKPOINT_KEYS) as unknown as AuditCheckpointRow;
  } catch (error) {
    return error instanceof LineError ? error.message : "not JSON";
  }
}

export function verifyExport(
  content: Buffer,
  keys: TrustedKeys,
  pinned: readonly PinnedCheckpoint[] = [],
): ExportReport {
  let lineNumber = 0;
  /** Where the export has each seq a pinned checkpoint names: its event's hash and line. */
  const atPinned = new Map<number, { hash: string; line: number }>();
  const pinnedSeqs = new Set(pinned.map((p) => p.checkpoint.seq));
  try {
    const lines = linesOf(content);
    let walk: ChainWalk | undefined;
    let trail: CheckpointTrail | undefined;
    let firstUncovered = 0;
    let fromSeq = 0;
    for (const text of lines) {
      lineNumber += 1;
      const { type, record } = parseLine(text);
      if (type === "event") {
        const event = record as unknown as AuditEventRow;
        walk ??= new ChainWalk(event.chainId, genesisLink());
        trail ??= new CheckpointTrail(event.chainId, keys);
        const problem = walk.next(event);
        if (problem) throw new LineError(problem.message);
        if (firstUncovered === 0) firstUncovered = lineNumber;
        if (pinnedSeqs.has(event.seq))
          atPinned.set(event.seq, { hash: event.hash, line: lineNumber });
        continue;
      }
      const checkpoint = record as unknown as AuditCheckpointRow;
      if (!walk) {
        // the export starts here: the checkpoint vouches for the chain up to its seq
        fromSeq = checkpoint.seq;
        atPinned.set(checkpoint.seq, { hash: checkpoint.hash, line: lineNumber });
        walk = new ChainWalk(checkpoint.chainId, {
          seq: checkpoint.seq,
          hash: checkpoint.hash,
          id: null,
        });
        trail = new CheckpointTrail(checkpoint.chainId, keys, null);
      }
      const head = walk.head;
      if (checkpoint.seq !== head.seq) {
        throw new LineError(
          `checkpoint seq ${checkpoint.seq} is out of place: it must come right after event seq ${checkpoint.seq}`,
        );
      }
      const message = trail!.next(checkpoint, head.hash);
      if (message) throw new LineError(message);
      firstUncovered = 0;
    }
    if (firstUncovered !== 0) {
      lineNumber = firstUncovered;
      throw new LineError(
        "this event and the ones after it are not covered by a checkpoint (the end was cut)",
      );
    }
    const lastSeq = walk?.head.seq ?? 0;
    for (const { line, checkpoint } of pinned) {
      if (checkpoint.chainId !== walk?.chainId || checkpoint.seq < fromSeq) continue;
      const here = atPinned.get(checkpoint.seq);
      if (checkpoint.seq > lastSeq) {
        lineNumber = lines.length;
        throw new LineError(
          `the export ends at seq ${lastSeq}, before the checkpoint of seq ${checkpoint.seq} pinned on line ${line}: it was cut or rewritten`,
        );
      }
      if (here?.hash !== checkpoint.hash) {
        lineNumber = here?.line ?? lines.length;
        throw new LineError(
          `event seq ${checkpoint.seq} is not the one the checkpoint pinned on line ${line} signed: the chain was rewritten`,
        );
      }
    }
    return {
      intact: true,
      chainId: walk?.chainId ?? null,
      fromSeq,
      events: walk?.events ?? 0,
      checkpoints: trail?.checkpoints ?? 0,
      lastSeq: walk?.head.seq ?? 0,
    };
  } catch (error) {
    // anything else a hostile line makes go wrong is that line's fault too
    const message =
      error instanceof LineError
        ? error.message
        : `cannot be read as a record (${error instanceof Error ? error.name : "error"})`;
    const line = (error as { line?: number }).line ?? lineNumber;
    return { intact: false, line, message: `line ${line}: ${message}` };
  }
}
