import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createSecureContext, type SecureContextOptions, type Server } from "node:tls";
import type { Logger } from "pino";
import { ConfigError } from "../config.js";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 of the leaf certificate: what logs and operators compare, never the PEM itself. */
  fingerprint: string;
  validTo: string;
}

/**
 * TLS 1.2 and 1.3 only. For TLS 1.2, ECDHE key exchange with AEAD ciphers only (Mozilla's
 * "intermediate" list); the TLS 1.3 suites are all AEAD.
 */
export const TLS_POLICY = {
  minVersion: "TLSv1.2",
  ciphers: [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
  ].join(":"),
  honorCipherOrder: true,
} as const satisfies SecureContextOptions;

export class CertificateError extends Error {
  override name = "CertificateError";
}

/** Checks that the two PEM buffers are a certificate and the private key that matches it. */
export function checkCredentials(cert: Buffer, key: Buffer): TlsCredentials {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new CertificateError("the certificate file holds no PEM certificate");
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new CertificateError("the key file holds no unencrypted PEM private key");
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new CertificateError("the key does not match the certificate");
  }
  try {
    createSecureContext({ ...TLS_POLICY, cert, key });
  } catch {
    throw new CertificateError("OpenSSL refused the certificate chain");
  }
  return { cert, key, fingerprint: certificate.fingerprint256, validTo: certificate.validTo };
}

/** At start: the files must be readable and hold a matching pair, or the server does not start. */
export function loadTlsCredentials(files: TlsFiles): TlsCredentials {
  const read = (variable: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
      throw new ConfigError(`Invalid configuration: ${variable} cannot be read (${code})`);
    }
  };
  const cert = read("TLS_CERT_FILE", files.certFile);
  const key = read("TLS_KEY_FILE", files.keyFile);
  try {
    return checkCredentials(cert, key);
  } catch (error) {
    if (!(error instanceof CertificateError)) throw error;
    throw new ConfigError(`Invalid configuration: TLS_CERT_FILE/TLS_KEY_FILE: ${error.message}`);
  }
}

const digest = (cert: Buffer, key: Buffer) =>
  createHash("sha256").update(cert).update("\0").update(key).digest("hex");

/**
 * Polls both files every `intervalMs` and, when their content has changed, serves the new pair
 * to new connections (tls.Server#setSecureContext); open connections keep theirs. Polling the
 * content rather than fs.watch-ing the files sees every way they are replaced: certbot's symlink
 * update under live/, cert-manager's swap of the ..data directory symlink, an editor's rename.
 * A change is acted on once it reads the same on two polls in a row, so a renewal that writes
 * the certificate and the key one after the other is not refused half-way. A pair that cannot be
 * read, parsed or matched is refused with one log line (never any content) and the previous
 * certificate stays. Returns the function that stops polling.
 */
export function reloadCertificateOnChange(
  server: Server,
  files: TlsFiles,
  current: TlsCredentials,
  options: { intervalMs: number; logger: Logger },
): () => void {
  const { logger } = options;
  let settled = digest(current.cert, current.key);
  let candidate: string | undefined;
  let polling = false;

  const poll = async () => {
    let state: string;
    let pair: { cert: Buffer; key: Buffer } | undefined;
    try {
      const [cert, key] = await Promise.all([readFile(files.certFile), readFile(files.keyFile)]);
      pair = { cert, key };
      state = digest(cert, key);
    } catch (error) {
      state = `unreadable: ${(error as NodeJS.ErrnoException).code ?? "error"}`;
    }
    if (state === settled) {
      candidate = undefined;
      return;
    }
    if (state !== candidate) {
      candidate = state; // seen once: wait for the next poll to see the same
      return;
    }
    settled = state;
    candidate = undefined;
    if (!pair) {
      logger.error(
        { certFile: files.certFile, keyFile: files.keyFile, reason: state },
        "TLS certificate change refused: still serving the previous certificate",
      );
      return;
    }
    try {
      const next = checkCredentials(pair.cert, pair.key);
      server.setSecureContext({ ...TLS_POLICY, cert: next.cert, key: next.key });
      logger.info(
        { fingerprint: next.fingerprint, validTo: next.validTo },
        "TLS certificate reloaded",
      );
    } catch (error) {
      const reason = error instanceof CertificateError ? error.message : "unusable";
      logger.error(
        { certFile: files.certFile, keyFile: files.keyFile, reason },
        "TLS certificate change refused: still serving the previous certificate",
      );
    }
  };

  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    void poll().finally(() => {
      polling = false;
    });
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
