import { execFileSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/*
 * A throw-away certificate authority made with the machine's `openssl` at test time, and leaf
 * certificates it signs for 127.0.0.1 and localhost. Clients trust `ca`; nothing else does.
 */

export interface Leaf {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  /** SHA-256 fingerprint, as tls.PeerCertificate.fingerprint256 gives it. */
  fingerprint: string;
}

export interface TestPki {
  dir: string;
  ca: Buffer;
  /** A new RSA key and a certificate for it, signed by the CA, under `name` in `dir`. */
  issue(name: string): Leaf;
  dispose(): void;
}

const openssl = (args: string[], cwd: string) =>
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "test-pki-"));
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "30",
      "-subj",
      "/CN=Test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  writeFileSync(
    join(dir, "leaf.ext"),
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ].join("\n"),
  );
  return {
    dir,
    ca: readFileSync(join(dir, "ca.crt")),
    issue(name) {
      const keyFile = join(dir, `${name}.key`);
      const certFile = join(dir, `${name}.crt`);
      const csr = join(dir, `${name}.csr`);
      openssl(
        [
          "req",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-keyout",
          keyFile,
          "-out",
          csr,
          "-subj",
          "/CN=localhost",
        ],
        dir,
      );
      openssl(
        [
          "x509",
          "-req",
          "-in",
          csr,
          "-CA",
          "ca.crt",
          "-CAkey",
          "ca.key",
          "-set_serial",
          `0x${randomBytes(8).toString("hex")}`,
          "-days",
          "30",
          "-extfile",
          "leaf.ext",
          "-out",
          certFile,
        ],
        dir,
      );
      const cert = readFileSync(certFile);
      return {
        certFile,
        keyFile,
        cert,
        key: readFileSync(keyFile),
        fingerprint: new X509Certificate(cert).fingerprint256,
      };
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
