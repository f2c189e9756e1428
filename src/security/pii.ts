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

export class PiiDecryptionError extends Error {
  override name = "PiiDecryptionError";
}

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

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
    const cipher = createCipheriv("aes-256-gcm", this.keys.get(this.activeKeyId)!, iv);
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
    const [version, keyId, packed] = stored.split(".");
    const key = keyId === undefined ? undefined : this.keys.get(keyId);
    if (version !== VERSION || !key || !packed) {
      throw new PiiDecryptionError(`undecryptable ${binding.table}.${binding.column}`);
    }
    const raw = Buffer.from(packed, "base64url");
    if (raw.length < IV_BYTES + TAG_BYTES) {
      throw new PiiDecryptionError(`undecryptable ${binding.table}.${binding.column}`);
    }
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(aad(binding));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      const body = raw.subarray(IV_BYTES, raw.length - TAG_BYTES);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8");
    } catch {
      throw new PiiDecryptionError(`undecryptable ${binding.table}.${binding.column}`);
    }
  }

  decryptOptional(stored: string | null, binding: PiiBinding): string | null {
    return stored === null ? null : this.decrypt(stored, binding);
  }

  /** The key id a stored value was encrypted under (for rotation). */
  static keyIdOf(stored: string): string | undefined {
    return stored.split(".")[1];
  }
}

/** The canonical form of an email for lookups: trimmed and lower-cased. */
export const normalizeEmail = (email: string): string => email.trim().toLowerCase();

/**
 * Blind index: HMAC-SHA256 of a normalized value, so equality lookups (login by email, email
 * uniqueness, the customer email filter) run in SQL without decrypting anything.
 */
export class BlindIndex {
  constructor(private readonly key: Buffer) {}

  email(email: string): string {
    return createHmac("sha256", this.key)
      .update(`email:${normalizeEmail(email)}`)
      .digest("base64url");
  }
}
