import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";

/**
 * Field-level encryption of personal data: AES-256-GCM with a fresh 96-bit IV per value.
 * Format: v1.<keyId>.<base64url(iv | ciphertext | tag)>.
 * The additional authenticated data binds a value to its table, column and row id, so a
 * ciphertext copied to another row or column fails to decrypt instead of showing other data.
 */
export interface PiiBinding {
  table: string;
  column: string;
  rowId: string;
}

/**
 * A stored value that cannot be decrypted: unknown key, wrong binding or tampering. It names the
 * table, column and row (for the server log), never the value; clients see INTERNAL_SERVER_ERROR.
 */
export class PiiDecryptionError extends Error {
  override name = "PiiDecryptionError";
  constructor(readonly binding: PiiBinding) {
    super(`undecryptable ${binding.table}.${binding.column} of row ${binding.rowId}`);
  }
}

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ALGORITHM = "aes-256-gcm";

const aad = (b: PiiBinding) => Buffer.from(`${VERSION}|${b.table}|${b.column}|${b.rowId}`, "utf8");

export class FieldCipher {
  constructor(
    private readonly keys: ReadonlyMap<string, Buffer>,
    readonly activeKeyId: string,
  ) {
    if (!keys.has(activeKeyId)) throw new Error("active PII key is not in the key ring");
  }

  encrypt(plaintext: string, binding: PiiBinding): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.keys.get(this.activeKeyId)!, iv, {
      authTagLength: TAG_BYTES,
    });
    cipher.setAAD(aad(binding));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    const packed = Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
    return `${VERSION}.${this.activeKeyId}.${packed}`;
  }

  encryptOptional(plaintext: string | null | undefined, binding: PiiBinding): string | null {
    return plaintext == null ? null : this.encrypt(plaintext, binding);
  }

  /** Throws PiiDecryptionError on an unknown key, a wrong binding or any tampering. */
  decrypt(stored: string, binding: PiiBinding): string {
    const parts = stored.split(".");
    const [version, keyId, packed] = parts;
    const key = keyId === undefined ? undefined : this.keys.get(keyId);
    if (parts.length !== 3 || version !== VERSION || !key || !packed) {
      throw new PiiDecryptionError(binding);
    }
    const raw = Buffer.from(packed, "base64url");
    if (raw.length < IV_BYTES + TAG_BYTES) throw new PiiDecryptionError(binding);
    try {
      const decipher = createDecipheriv(ALGORITHM, key, raw.subarray(0, IV_BYTES), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(aad(binding));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      const body = raw.subarray(IV_BYTES, raw.length - TAG_BYTES);
      const plain = decipher.update(body);
      decipher.final(); // authenticates (throws on a wrong tag); GCM has nothing left to output
      return plain.toString("utf8");
    } catch {
      throw new PiiDecryptionError(binding);
    }
  }

  decryptOptional(stored: string | null, binding: PiiBinding): string | null {
    return stored === null ? null : this.decrypt(stored, binding);
  }

  /** Whether a stored value is already encrypted under the active key (rotation skips it). */
  isUnderActiveKey(stored: string): boolean {
    return FieldCipher.keyIdOf(stored) === this.activeKeyId;
  }

  /** The key id a stored value was encrypted under (for rotation). */
  static keyIdOf(stored: string): string | undefined {
    return stored.split(".")[1];
  }
}

/** The canonical form of an email for lookups: trimmed and lower-cased. */
export const normalizeEmail = (email: string): string => email.trim().toLowerCase();

const emailHmac = (key: Buffer, email: string) =>
  createHmac("sha256", key)
    .update(`email:${normalizeEmail(email)}`)
    .digest("base64url");

/**
 * Blind index: HMAC-SHA256 of a normalized value, so equality lookups (login by email, email
 * uniqueness, the customer email filter) run in SQL without decrypting anything.
 *
 * During a blind-index key rotation (docs/personal-data.md) a second key is configured: writes
 * fill both the current column (email_bidx) and the next one (email_bidx_next), and lookups
 * match a value's hash under either key in either column, so every instance finds every row
 * whichever step of the rotation it, or the row, is at.
 */
export class BlindIndex {
  constructor(
    private readonly key: Buffer,
    private readonly nextKey?: Buffer,
  ) {}

  /** The hash stored in email_bidx. */
  email(email: string): string {
    return emailHmac(this.key, email);
  }

  /** The hash stored in email_bidx_next: under the next key while a rotation is under way. */
  emailNext(email: string): string | null {
    return this.nextKey ? emailHmac(this.nextKey, email) : null;
  }

  /** Every hash a stored row of this email may carry (one, or two during a rotation). */
  emailCandidates(email: string): string[] {
    const next = this.emailNext(email);
    return next === null ? [this.email(email)] : [this.email(email), next];
  }

  get rotating(): boolean {
    return this.nextKey !== undefined;
  }
}
