import {
  createHash,
  createPublicKey,
  type KeyObject,
  sign as signBytes,
  verify as verifyBytes,
} from "node:crypto";

/*
 * Ed25519 keys of the audit checkpoints: the server signs with AUDIT_SIGNING_KEY; an auditor
 * verifies with its public key (`npm run audit:public-key`), which holds no secret.
 */

/** The public half of a key pair (a public key is its own). */
const publicOf = (key: KeyObject): KeyObject =>
  key.type === "public" ? key : createPublicKey(key);

/** What is derived from a key, once per key object (a resolver asks on every request). */
const derived = new WeakMap<KeyObject, { pem: string; keyId: string }>();

function derive(key: KeyObject): { pem: string; keyId: string } {
  let facts = derived.get(key);
  if (!facts) {
    const publicKey = publicOf(key);
    facts = {
      pem: publicKey.export({ type: "spki", format: "pem" }).toString(),
      keyId: createHash("sha256")
        .update(publicKey.export({ type: "spki", format: "der" }))
        .digest("hex")
        .slice(0, 32),
    };
    derived.set(key, facts);
  }
  return facts;
}

/** The public key as PEM (SPKI), as `npm run audit:public-key` prints it. */
export const publicKeyPem = (key: KeyObject): string => derive(key).pem;

/** A short, stable name of a key pair: SHA-256 of its public key (SPKI DER), 128 bits in hex. */
export const keyIdOf = (key: KeyObject): string => derive(key).keyId;

export interface Signer {
  keyId: string;
  /** Base64 Ed25519 signature of the bytes. */
  sign(bytes: Buffer): string;
}

export function signerOf(privateKey: KeyObject): Signer {
  return {
    keyId: keyIdOf(privateKey),
    sign: (bytes) => signBytes(null, bytes, privateKey).toString("base64"),
  };
}

/**
 * Reads a public key given as PEM (SPKI, as audit:public-key prints it), or as the base64 of
 * its DER (the PEM's body on one line). Throws a plain message on anything else.
 */
export function parsePublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject | undefined;
  try {
    key = trimmed.startsWith("-----BEGIN")
      ? createPublicKey(trimmed)
      : createPublicKey({ key: Buffer.from(trimmed, "base64"), format: "der", type: "spki" });
  } catch {
    key = undefined;
  }
  if (key?.asymmetricKeyType !== "ed25519") {
    throw new Error("not an Ed25519 public key (PEM, or the base64 of its DER)");
  }
  return key;
}

/** The public keys a verifier trusts, by key id. */
export class TrustedKeys {
  private readonly keys = new Map<string, KeyObject>();

  constructor(keys: readonly KeyObject[]) {
    for (const key of keys) this.keys.set(keyIdOf(key), publicOf(key));
  }

  get size(): number {
    return this.keys.size;
  }

  knows(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  /** Whether the signature is the key's over these bytes; false for a key not trusted. */
  verify(keyId: string, bytes: Buffer, signature: string): boolean {
    const key = this.keys.get(keyId);
    if (!key) return false;
    const raw = Buffer.from(signature, "base64");
    if (raw.length !== 64 || raw.toString("base64") !== signature) return false;
    return verifyBytes(null, bytes, key, raw);
  }
}
