import { FieldCipher, type PiiBinding } from "../../src/security/pii.js";

/**
 * The baseline's "encryption not installed": a FieldCipher that does no cryptography. It stores
 * plaintext and reads a stored value back as it is. The baseline serves a copy of the data set
 * seeded through it (same sizes and shapes, plaintext columns). Exists only in bench/.
 */
export class PlaintextCipher extends FieldCipher {
  constructor() {
    super(new Map([["none", Buffer.alloc(32)]]), "none");
  }
  override encrypt(plaintext: string, _binding: PiiBinding): string {
    return plaintext;
  }
  override decrypt(stored: string, _binding: PiiBinding): string {
    return stored;
  }
}
