import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Logger } from "pino";
import type { Database } from "../../db/client.js";
import { rawRows } from "../../db/raw-rows.js";
import { type AuditCheckpointRow, auditCheckpoints } from "../../db/schema.js";
import { uuidv7 } from "../../db/uuidv7.js";
import { canonicalJson, GENESIS_HASH, LEGACY_CHAIN, NO_ORGANIZATION_CHAIN } from "./event.js";
import type { Signer, TrustedKeys } from "./signing.js";

/*
 * Signed checkpoints: a statement, signed with AUDIT_SIGNING_KEY, that a chain's event `seq`
 * had hash `hash` at time `at`, linked to the chain's previous checkpoint by its hash. With the
 * public key alone, anyone holding a checkpoint can tell whether a copy of the chain up to it
 * is the one the service wrote: an edit, a removal or a rewrite after the checkpoint was
 * signed (or published) shows, even if whoever made it controlled the database.
 */

export type CheckpointFields = Omit<AuditCheckpointRow, "signature">;

/** Fixed text before the JSON: these signed bytes can never be read as another signed message. */
const STATEMENT_PREFIX = "customer-records-api audit checkpoint v1\n";

/** The bytes a checkpoint's signature covers: its fields as canonical JSON after the prefix. */
export const signedBytes = (checkpoint: CheckpointFields): Buffer =>
  Buffer.from(
    STATEMENT_PREFIX +
      canonicalJson({
        id: checkpoint.id,
        chainId: checkpoint.chainId,
        orgId: checkpoint.orgId,
        seq: checkpoint.seq,
        hash: checkpoint.hash,
        at: checkpoint.at,
        previous: checkpoint.previous,
        keyId: checkpoint.keyId,
      }),
  );

/** What the next checkpoint of the chain names as its previous one. */
export const checkpointHash = (checkpoint: CheckpointFields): string =>
  createHash("sha256").update(signedBytes(checkpoint)).digest("hex");

export const signatureIsValid = (keys: TrustedKeys, checkpoint: AuditCheckpointRow): boolean =>
  keys.verify(checkpoint.keyId, signedBytes(checkpoint), checkpoint.signature);

/** The organization a chain belongs to (none for the chains of events without one). */
export const organizationOfChain = (chainId: string): string | null =>
  chainId === NO_ORGANIZATION_CHAIN || chainId === LEGACY_CHAIN ? null : chainId;

export function signCheckpoint(
  signer: Signer,
  fields: Omit<CheckpointFields, "id" | "keyId">,
): AuditCheckpointRow {
  const unsigned = { id: uuidv7(), ...fields, keyId: signer.keyId };
  return { ...unsigned, signature: signer.sign(signedBytes(unsigned)) };
}

interface MovedChain {
  chain_id: string;
  seq: number | string;
  hash: string;
  last_id: string | null;
  last_seq: number | string | null;
  last_hash: string | null;
  last_at: Date | string | null;
  last_previous: string | null;
  last_key_id: string | null;
  last_org_id: string | null;
}

const BATCH = 500;

/** A list of chain ids as one parameter, for `in`: one statement whatever the number. */
const uuidList = (ids: readonly string[]) =>
  sql`(select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)::uuid)`;

/**
 * Checkpoints every chain whose head moved past its last checkpoint (or only `chains`, of
 * those). Instances may run this at once: a checkpoint has one successor (a unique index on
 * its hash as `previous`), so a racing instance's duplicate is dropped, never forked.
 * Returns the checkpoints written.
 */
export async function writeCheckpoints(
  db: Database,
  signer: Signer,
  options: { chains?: readonly string[]; except?: readonly string[]; now?: Date } = {},
): Promise<AuditCheckpointRow[]> {
  if (options.chains?.length === 0) return [];
  const only = options.chains ? sql`and c.chain_id in ${uuidList(options.chains)}` : sql``;
  const except = options.except?.length
    ? sql`and c.chain_id not in ${uuidList(options.except)}`
    : sql``;
  const moved = await rawRows<MovedChain>(
    db,
    sql`select c.chain_id, c.seq, c.hash, last.id as last_id, last.seq as last_seq, last.hash as last_hash,
          last.at as last_at, last.previous as last_previous, last.key_id as last_key_id,
          last.org_id as last_org_id
        from audit_chains c
        left join lateral (
          select * from audit_checkpoints k where k.chain_id = c.chain_id
          order by k.seq desc limit 1
        ) last on true
        where c.seq > coalesce(last.seq, 0) ${only} ${except}
        order by c.chain_id`,
  );
  const at = options.now ?? new Date();
  const signed = moved.map((chain) =>
    signCheckpoint(signer, {
      chainId: chain.chain_id,
      orgId: organizationOfChain(chain.chain_id),
      seq: Number(chain.seq),
      hash: chain.hash,
      at,
      previous:
        chain.last_seq === null
          ? GENESIS_HASH
          : checkpointHash({
              id: chain.last_id!,
              chainId: chain.chain_id,
              orgId: chain.last_org_id,
              seq: Number(chain.last_seq),
              hash: chain.last_hash!,
              at: new Date(chain.last_at!),
              previous: chain.last_previous!,
              keyId: chain.last_key_id!,
            }),
    }),
  );
  const written: AuditCheckpointRow[] = [];
  for (let start = 0; start < signed.length; start += BATCH) {
    const rows = await db
      .insert(auditCheckpoints)
      .values(signed.slice(start, start + BATCH))
      .onConflictDoNothing()
      .returning();
    written.push(...rows);
  }
  return written;
}

/**
 * The chains, of those given with the last checkpoint this process signed of each, that the
 * database no longer continues: that checkpoint is gone or changed, or the chain's event at its
 * seq is no longer the one it signed. Only whoever can rewrite the database behind the service
 * (dropping its triggers) can cause that; signing the chain on would vouch for the rewrite.
 */
export async function rewoundChains(
  db: Database,
  signed: ReadonlyMap<string, AuditCheckpointRow>,
): Promise<string[]> {
  if (signed.size === 0) return [];
  const remembered = [...signed.values()].map((k) => ({
    id: k.id,
    chain_id: k.chainId,
    seq: k.seq,
    hash: k.hash,
    signature: k.signature,
  }));
  const rows = await rawRows<{ chain_id: string }>(
    db,
    sql`select r.chain_id from jsonb_to_recordset(${JSON.stringify(remembered)}::jsonb)
          as r(id uuid, chain_id uuid, seq bigint, hash text, signature text)
        left join audit_checkpoints k on k.id = r.id
        left join audit_events e on e.chain_id = r.chain_id and e.seq = r.seq
        where k.id is null or k.hash <> r.hash or k.signature <> r.signature
          or e.hash is distinct from r.hash`,
  );
  return rows.map((row) => row.chain_id);
}

/** A checkpoint as one line of an export or of the structured log: every column, canonical. */
export const checkpointRecord = (checkpoint: AuditCheckpointRow) => ({
  type: "checkpoint" as const,
  ...checkpoint,
  at: checkpoint.at.toISOString(),
});

/** Every this many rounds (and on the first), a round looks at every chain, not only its own. */
const SWEEP_EVERY_ROUNDS = 60;

/**
 * Checkpoints the chains on a timer (AUDIT_CHECKPOINT_SECONDS), and at shutdown those this
 * instance wrote to. A round covers the chains this instance wrote to; every
 * SWEEP_EVERY_ROUNDS-th (the first included) every chain that moved, so that chains last written
 * by an instance that died before its shutdown round are checkpointed too, while a round's cost
 * does not grow with the number of organizations. Every checkpoint written goes to the
 * structured log as one JSON line.
 */
export class Checkpointer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private readonly touched = new Set<string>();
  /** The last checkpoint this process signed of each chain: the database must continue it. */
  private readonly signed = new Map<string, AuditCheckpointRow>();
  private readonly reported = new Set<string>();
  private rounds = 0;

  constructor(
    private readonly db: Database,
    private readonly signer: Signer,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      const sweep = this.rounds++ % SWEEP_EVERY_ROUNDS === 0;
      void this.run(sweep ? undefined : [...this.touched]);
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Events of these chains were written by this instance. */
  wrote(chainId: string): void {
    this.touched.add(chainId);
  }

  /** One round now (after any round under way): every chain that moved, or only `chains`. */
  run(chains?: readonly string[]): Promise<AuditCheckpointRow[]> {
    const round = this.running.then(() => this.round(chains));
    this.running = round.catch(() => undefined);
    return round;
  }

  private async round(chains?: readonly string[]): Promise<AuditCheckpointRow[]> {
    // A round covers every chain (of those asked for) as it stands when it reads the heads:
    // whoever writes their checkpoints, this one or a racing instance. Writes after that read
    // mark their chains again.
    const covered = chains ?? [...this.touched];
    for (const chainId of covered) this.touched.delete(chainId);
    try {
      // a sweep checks every chain this process signed; a round, the chains it covers
      const remembered = chains
        ? new Map(chains.flatMap((id) => (this.signed.has(id) ? [[id, this.signed.get(id)!]] : [])))
        : this.signed;
      const rewound = await rewoundChains(this.db, remembered);
      for (const chainId of rewound) {
        if (this.reported.has(chainId)) continue;
        this.reported.add(chainId);
        const last = this.signed.get(chainId)!;
        this.logger.error(
          { chainId, checkpoint: checkpointRecord(last) },
          "audit chain rewritten in the database behind the service: no longer checkpointed",
        );
      }
      const written = await writeCheckpoints(this.db, this.signer, {
        ...(chains ? { chains } : {}),
        except: rewound,
      });
      for (const checkpoint of written) {
        this.signed.set(checkpoint.chainId, checkpoint);
        this.logger.info({ checkpoint: checkpointRecord(checkpoint) }, "audit checkpoint");
      }
      return written;
    } catch (error) {
      for (const chainId of covered) this.touched.add(chainId);
      this.logger.error({ err: error }, "audit checkpoints could not be written");
      return [];
    }
  }

  /** Stops the timer and checkpoints the chains this instance wrote to since its last round. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.run([...this.touched]);
  }
}
