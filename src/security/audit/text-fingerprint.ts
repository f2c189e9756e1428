import { createHmac, hkdfSync } from "node:crypto";

/*
 * Free text of a request (a note's body, a customer's name, keys nobody declared) is kept in the
 * audit log as its length and a keyed fingerprint, never in clear: the append-only log must not
 * hold personal data that an erasure request cannot reach. The key is the organization's own
 * (derived from BLIND_INDEX_KEY and its id) and the fingerprint covers the field the text was
 * sent in: the same text in the same field of one organization's events shows as a repeat, but
 * one organization's fingerprints say nothing about another's, and a guess sent in a field one
 * may use cannot be matched against text sent in a field one may not. Only the key's holder can
 * test a guess; rotating BLIND_INDEX_KEY away leaves nothing to recognize.
 */

const INFO = "customer-records-api audit text fingerprint v1";
const SURROGATE_PAIRS = /[\ud800-\udbff][\udc00-\udfff]/g;
const KEYS_KEPT = 10_000;

/** Where a text was sent: the organization whose event it is, and the argument or input field. */
export interface TextContext {
  orgId: string | null;
  field: string;
}

export class TextFingerprint {
  private readonly keys = new Map<string, Buffer>();

  constructor(private readonly secret: Buffer) {}

  /** "[text len=<characters> hmac=<first 128 bits of HMAC-SHA-256, hex>]" */
  of(text: string, context: TextContext): string {
    const characters = text.length - (text.match(SURROGATE_PAIRS)?.length ?? 0);
    const mac = createHmac("sha256", this.keyOf(context.orgId))
      .update(context.field, "utf8")
      .update("\u0000")
      .update(text, "utf8")
      .digest("hex")
      .slice(0, 32);
    return `[text len=${characters} hmac=${mac}]`;
  }

  /** The organization's key (HKDF-SHA-256, its id as salt), derived once and kept. */
  private keyOf(orgId: string | null): Buffer {
    const salt = orgId ?? "";
    let key = this.keys.get(salt);
    if (!key) {
      key = Buffer.from(hkdfSync("sha256", this.secret, salt, INFO, 32));
      if (this.keys.size >= KEYS_KEPT) this.keys.clear();
      this.keys.set(salt, key);
    }
    return key;
  }
}
