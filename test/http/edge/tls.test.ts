import { mkdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { connect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capturingLogger } from "../../support/logs.js";
import { ConfigError } from "../../../src/config.js";
import { createTestPki, type Leaf, type TestPki } from "../../support/certificates.js";
import { securityProbe } from "../../support/security-probe.js";
import { spawnServer, type ServerProcess } from "../../support/server-process.js";
import { startServer } from "../../support/server.js";

/*
 * Direct TLS (TLS_CERT_FILE, TLS_KEY_FILE) on the real process, with certificates made by openssl
 * for this run. The files are mounted the way Kubernetes mounts a cert-manager secret: tls.crt and
 * tls.key are symlinks into ..data, itself a symlink to a versioned directory that a renewal
 * replaces in one rename, so the files themselves are never written in place.
 */

let pki: TestPki;
let first: Leaf;
let mountDir: string;
let server: ServerProcess;
let mountVersion = 0;

/** A new version of the secret's files, swapped in atomically as kubelet does. */
function mount(cert: Buffer, key: Buffer) {
  mountVersion++;
  const version = `..v${mountVersion}`;
  mkdirSync(join(mountDir, version));
  writeFileSync(join(mountDir, version, "tls.crt"), cert);
  writeFileSync(join(mountDir, version, "tls.key"), key, { mode: 0o600 });
  symlinkSync(version, join(mountDir, "..data_tmp"));
  renameSync(join(mountDir, "..data_tmp"), join(mountDir, "..data"));
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  fingerprint: string;
  reusedSocket: boolean;
}

function get(path: string, agent: Agent | false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: server.port, path, agent, ...(agent ? {} : { ca: pki.ca }) },
      (res) => {
        // read now: a keep-alive agent takes the socket back once the response has ended
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
            fingerprint,
            reusedSocket: req.reusedSocket,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** A new connection's view of the server's certificate. */
const newConnection = () => get("/healthz", false);

/** The handshake alone: resolves with the error code, or "connected" and the protocol. */
function handshake(options: ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port: server.port, ca: pki.ca, ...options }, () => {
      resolve(`connected ${socket.getProtocol()} ${socket.getCipher().name}`);
      socket.destroy();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  pki = createTestPki();
  first = pki.issue("first");
  mountDir = join(pki.dir, "secret");
  mkdirSync(mountDir);
  mount(first.cert, first.key);
  symlinkSync("..data/tls.crt", join(mountDir, "tls.crt"));
  symlinkSync("..data/tls.key", join(mountDir, "tls.key"));
  server = await spawnServer({
    TLS_CERT_FILE: join(mountDir, "tls.crt"),
    TLS_KEY_FILE: join(mountDir, "tls.key"),
    TLS_RELOAD_INTERVAL_MS: "200",
    KEEP_ALIVE_TIMEOUT_MS: "60000",
    METRICS_TOKEN: "metrics-token-0123456789-abcdefghijklmnop",
  });
}, 180_000);

afterAll(async () => {
  await server?.stop();
  pki?.dispose();
});

describe("direct TLS", () => {
  it("answers /healthz over TLS to a client that trusts the CA, with HSTS", async () => {
    const answer = await newConnection();
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ status: "ok" });
    expect(answer.fingerprint).toBe(first.fingerprint);
    expect(answer.headers["strict-transport-security"]).toBe("max-age=31536000; includeSubDomains");
    expect(
      server.lines.find((l) => typeof l.msg === "string" && l.msg.startsWith("GraphQL API at"))
        ?.msg,
    ).toMatch(/^GraphQL API at https:/);
  });

  it("speaks TLS 1.3, and TLS 1.2 only with ECDHE and an AEAD cipher", async () => {
    expect(await handshake({})).toMatch(/^connected TLSv1\.3 /);
    expect(await handshake({ maxVersion: "TLSv1.2" })).toBe(
      "connected TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256",
    );
    // RSA key exchange (AEAD) and ECDHE with CBC: the server ends the handshake with an alert
    // (handshake_failure; OpenSSL 3.2+, as in Node 24, names it "SSL/TLS" rather than "SSLV3").
    const handshakeFailure = /^ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_HANDSHAKE_FAILURE$/;
    expect(await handshake({ maxVersion: "TLSv1.2", ciphers: "AES128-GCM-SHA256" })).toMatch(
      handshakeFailure,
    );
    expect(await handshake({ maxVersion: "TLSv1.2", ciphers: "ECDHE-RSA-AES128-SHA" })).toMatch(
      handshakeFailure,
    );
  });

  it("refuses a TLS 1.1 client", async () => {
    // SECLEVEL=0 lets this client offer TLS 1.1 at all (OpenSSL 3 would not): the refusal is the
    // server's protocol_version alert, not the client's own configuration.
    const answer = await handshake({
      minVersion: "TLSv1",
      maxVersion: "TLSv1.1",
      ciphers: "DEFAULT@SECLEVEL=0",
    });
    expect(answer).toBe("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
  });

  it("passes every check of npm run security:probe, for a client that trusts the CA", async () => {
    const caFile = join(pki.dir, "ca.crt");
    const { code, lines } = await securityProbe(`https://127.0.0.1:${server.port}`, {
      NODE_EXTRA_CA_CERTS: caFile,
    });
    expect(lines.map((l) => l.split(":")[0])).toEqual([
      "PASS tls",
      "PASS headers",
      "PASS introspection",
      "PASS csrf",
      "PASS errors",
      "PASS body-limit",
      "PASS metrics",
    ]);
    expect(lines[0]).toMatch(
      /^PASS tls: TLSv1\.3, TLS 1\.1 refused, certificate valid for 29 more days$/,
    );
    expect(code).toBe(0);
    // without the CA, the certificate is not trusted and the probe says so
    const untrusted = await securityProbe(`https://127.0.0.1:${server.port}`);
    expect(untrusted.lines[0]).toMatch(/^FAIL tls: TLS handshake failed: /);
    expect(untrusted.code).toBe(1);
  }, 60_000);

  it("gives a plain-HTTP request on the TLS port no HTTP answer", async () => {
    await expect(fetch(`http://127.0.0.1:${server.port}/healthz`)).rejects.toThrow();
  });

  it(
    "serves a renewed certificate to new connections within seconds, in the same process, " +
      "and keeps open connections",
    async () => {
      const pid = server.child.pid;
      const keepAlive = new Agent({ keepAlive: true, maxSockets: 1, ca: pki.ca });
      try {
        const before = await get("/healthz", keepAlive);
        expect(before.fingerprint).toBe(first.fingerprint);

        const second = pki.issue("second");
        mount(second.cert, second.key);
        const startedAt = Date.now();
        const after = await eventually(newConnection, (a) => a.fingerprint === second.fingerprint);
        expect(after.fingerprint).toBe(second.fingerprint);
        expect(after.status).toBe(200);
        expect(Date.now() - startedAt).toBeLessThan(5_000);

        // the connection opened before the renewal still answers, with the certificate it had
        const again = await get("/healthz", keepAlive);
        expect(again.reusedSocket).toBe(true);
        expect(again.status).toBe(200);
        expect(again.fingerprint).toBe(first.fingerprint);

        expect(server.child.exitCode).toBeNull();
        expect(server.child.pid).toBe(pid);
        const reloaded = await server.logged((l) => l.msg === "TLS certificate reloaded");
        expect(reloaded).toMatchObject({ pid, fingerprint: second.fingerprint });
      } finally {
        keepAlive.destroy();
      }
    },
  );

  it("keeps the current certificate when a replacement is broken, and logs why without content", async () => {
    const current = (await newConnection()).fingerprint;
    const other = pki.issue("other");
    const refusals = () => server.lines.filter((l) => l.msg?.startsWith("TLS certificate change"));
    const before = refusals().length;

    mount(Buffer.from("not a certificate\n"), other.key);
    await eventually(
      () => Promise.resolve(refusals().length),
      (n) => n > before,
    );
    const mismatched = pki.issue("mismatched");
    mount(mismatched.cert, other.key); // a certificate with someone else's key
    await eventually(
      () => Promise.resolve(refusals().length),
      (n) => n > before + 1,
    );

    const lines = refusals().slice(before);
    expect(lines.map((l) => l.reason)).toEqual([
      "the certificate file holds no PEM certificate",
      "the key does not match the certificate",
    ]);
    for (const line of lines) {
      expect(line.level).toBe(50);
      expect(line.msg).toBe(
        "TLS certificate change refused: still serving the previous certificate",
      );
    }
    expect(JSON.stringify(server.lines)).not.toContain("PRIVATE KEY");
    expect(JSON.stringify(server.lines)).not.toContain("BEGIN CERTIFICATE");

    const answer = await newConnection();
    expect(answer.status).toBe(200);
    expect(answer.fingerprint).toBe(current);
  });
});

describe("TLS settings at start", () => {
  it("refuses to start on an unreadable, unparseable or mismatched pair, naming the variable", async () => {
    const leaf = pki.issue("start");
    const other = pki.issue("start-other");
    const garbage = join(pki.dir, "garbage.pem");
    writeFileSync(
      garbage,
      "-----BEGIN CERTIFICATE-----\nc2VjcmV0IGNvbnRlbnQ=\n-----END CERTIFICATE-----\n",
    );
    const cases: [Record<string, string>, string][] = [
      [
        { TLS_CERT_FILE: join(pki.dir, "missing.crt"), TLS_KEY_FILE: leaf.keyFile },
        "Invalid configuration: TLS_CERT_FILE cannot be read (ENOENT)",
      ],
      [
        { TLS_CERT_FILE: garbage, TLS_KEY_FILE: leaf.keyFile },
        "Invalid configuration: TLS_CERT_FILE/TLS_KEY_FILE: the certificate file holds no PEM certificate",
      ],
      [
        { TLS_CERT_FILE: leaf.certFile, TLS_KEY_FILE: garbage },
        "Invalid configuration: TLS_CERT_FILE/TLS_KEY_FILE: the key file holds no unencrypted PEM private key",
      ],
      [
        { TLS_CERT_FILE: leaf.certFile, TLS_KEY_FILE: other.keyFile },
        "Invalid configuration: TLS_CERT_FILE/TLS_KEY_FILE: the key does not match the certificate",
      ],
    ];
    for (const [env, message] of cases) {
      const started = startServer(env);
      await expect(started).rejects.toBeInstanceOf(ConfigError);
      await expect(started).rejects.toThrow(message);
    }
  });

  it("stops watching the certificate files when the server closes", async () => {
    const leaf = pki.issue("closing");
    const capture = capturingLogger();
    const test = await startServer(
      { TLS_CERT_FILE: leaf.certFile, TLS_KEY_FILE: leaf.keyFile, TLS_RELOAD_INTERVAL_MS: "100" },
      { logger: capture.logger },
    );
    await test.close();
    writeFileSync(leaf.certFile, "not a certificate\n");
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(capture.lines.filter((l) => l.msg?.startsWith("TLS certificate"))).toEqual([]);
  });

  it("is watched while the server is open (the control for the test above)", async () => {
    const leaf = pki.issue("open");
    const capture = capturingLogger();
    const test = await startServer(
      { TLS_CERT_FILE: leaf.certFile, TLS_KEY_FILE: leaf.keyFile, TLS_RELOAD_INTERVAL_MS: "100" },
      { logger: capture.logger },
    );
    try {
      writeFileSync(leaf.certFile, "not a certificate\n");
      await eventually(
        () => Promise.resolve(capture.lines.length),
        () => capture.lines.some((l) => l.msg?.startsWith("TLS certificate change refused")),
      );
      expect(capture.lines.map((l) => l.reason)).toContain(
        "the certificate file holds no PEM certificate",
      );
    } finally {
      await test.close();
    }
  });
});
