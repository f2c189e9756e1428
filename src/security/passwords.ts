import bcrypt from "bcrypt";

export const PASSWORD_MIN_BYTES = 12;
export const PASSWORD_MAX_BYTES = 72; // bcrypt ignores anything past 72 bytes

/** Password hashing with bcrypt; an unknown account costs the same work as a wrong password. */
export class PasswordHasher {
  private readonly dummyHash: Promise<string>;
  /** Count of bcrypt comparisons, so tests can show unknown and known emails cost the same. */
  comparisons = 0;

  constructor(private readonly rounds: number) {
    this.dummyHash = bcrypt.hash("not-a-real-password-only-for-timing", rounds);
  }

  hash(password: string): Promise<string> {
    return bcrypt.hash(password, this.rounds);
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
  async verify(password: string, hash: string | undefined): Promise<boolean> {
    this.comparisons++;
    const matches = await bcrypt.compare(password, hash ?? (await this.dummyHash));
    return matches && hash !== undefined && Buffer.byteLength(password) <= PASSWORD_MAX_BYTES;
  }
}
