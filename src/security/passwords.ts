import bcrypt from "bcrypt";
import { rateLimited, serviceUnavailable } from "../graphql/errors.js";
import { QueueFull, RoundRobin } from "./round-robin.js";

/** Whose turn a hash takes, and until when it is worth starting (the operation's deadline). */
export interface HashTurn {
  /** An organization id, or a client address. */
  key: string;
  until: number | undefined;
}

/** Hashes one caller may have waiting for its turn. */
const MAX_WAITING_PER_KEY = 4;
/** Hashes waiting in all, per hash that runs at once (about 8 s of bcrypt at cost 12). */
const MAX_WAITING_PER_SLOT = 32;

export const PASSWORD_MIN_BYTES = 12;
export const PASSWORD_MAX_BYTES = 72; // bcrypt ignores anything past 72 bytes

/**
 * Password hashing with bcrypt; an unknown account costs the same work as a wrong password.
 *
 * bcrypt is the most expensive thing the server does (a quarter of a second of a core at cost
 * 12), so at most `concurrency` hashes run at once (PASSWORD_HASH_CONCURRENCY) and callers take
 * turns by key: an organization, or an anonymous client address. One tenant hashing in a loop
 * delays another's login by one hash at most, and never takes every core from the requests that
 * hash nothing.
 */
export class PasswordHasher {
  private readonly dummyHash: Promise<string>;
  private readonly turns: RoundRobin;
  /** Count of bcrypt comparisons, so tests can show unknown and known emails cost the same. */
  comparisons = 0;

  constructor(
    private readonly rounds: number,
    concurrency: number,
  ) {
    this.turns = new RoundRobin({
      concurrency,
      waitingPerKey: MAX_WAITING_PER_KEY,
      waiting: MAX_WAITING_PER_SLOT * concurrency,
    });
    this.dummyHash = bcrypt.hash("not-a-real-password-only-for-timing", rounds);
  }

  hash(password: string, turn: HashTurn): Promise<string> {
    return this.inTurn(turn, () => bcrypt.hash(password, this.rounds));
  }

  /**
   * The work, when its turn comes. Past the queue's bounds it is refused at once: RATE_LIMITED
   * when the caller already has work waiting, SERVICE_UNAVAILABLE when the whole queue is full
   * (the server cannot hash any faster: better a fast 503 than everyone's login at its deadline).
   */
  private async inTurn<T>(turn: HashTurn, work: () => Promise<T>): Promise<T> {
    try {
      return await this.turns.run(turn.key, work, turn.until);
    } catch (error) {
      if (!(error instanceof QueueFull)) throw error;
      throw error.scope === "key"
        ? rateLimited(1, "Too many password checks under way for this caller; retry later")
        : serviceUnavailable("The server is busy checking passwords; retry later");
    }
  }

  /** Hashes (and comparisons) running, and waiting for their turn (tests). */
  get load(): { running: number; waiting: number } {
    return { running: this.turns.running, waiting: this.turns.waiting };
  }

  /**
   * Whether a hash was made at another cost than BCRYPT_ROUNDS (the setting changed since): it is
   * then replaced at the next successful login, so raising the cost reaches every active account
   * and a known email costs the same bcrypt work as an unknown one (whose dummy hash has the
   * current cost).
   */
  needsRehash(hash: string): boolean {
    try {
      return bcrypt.getRounds(hash) !== this.rounds;
    } catch {
      return false; // not a bcrypt hash: it verified nothing, so there is nothing to replace
    }
  }

  /**
   * Compares against the hash, or against a dummy hash of the same cost when there is none.
   * A password longer than any that can be set never matches: bcrypt would compare only its
   * first 72 bytes, so "the password plus anything" would otherwise pass.
   */
  async verify(password: string, hash: string | undefined, turn: HashTurn): Promise<boolean> {
    this.comparisons++;
    const against = hash ?? (await this.dummyHash);
    const matches = await this.inTurn(turn, () => bcrypt.compare(password, against));
    return matches && hash !== undefined && Buffer.byteLength(password) <= PASSWORD_MAX_BYTES;
  }
}
