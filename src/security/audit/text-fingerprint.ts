import { createHmac, hkdfSync } from "node:crypto";

/*
 * Free text of a request (a note's body, a customer's name, keys nobody declared) is kept in the
 * audit log as its length and a keyed fingerprint, never in clear: the append-only log must not
 * hold personal data that an erasure request cannot reach. The same text gives the same
 * fingerprint (an auditor can tell repeats apart from changes), and only the key's holder can
 * test a guess; destroying the key (BLIND_INDEX_KEY rotation) leaves nothing to recognize.
 */

const INFO = "customer-records-api audit text fingerprint v1";
const SURROGATE_PAIRS = /[\ud800-\udbff][\udc00-\udfff]/g;

export class TextFingerprint {
  private readonly key: Buffer;

  /** Derived from BLIND_INDEX_KEY: a key of its own, for this use only (HKDF-SHA-256). */
  constructor(secret: Buffer) {
    this.key = Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), INFO, 32));
  }

  /** "[text len=<characters> hmac=<first 128 bits of HMAC-SHA-256, hex>]" */
  of(text: string): string {
    const characters = text.length - (text.match(SURROGATE_PAIRS)?.length ?? 0);
    const mac = createHmac("sha256", this.key).update(text, "utf8").digest("hex").slice(0, 32);
    return `[text len=${characters} hmac=${mac}]`;
  }
}
