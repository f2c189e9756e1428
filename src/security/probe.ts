import { connect, type ConnectionOptions } from "node:tls";

/*
 * A small external check of a deployed server (staging), from outside, as an attacker's scanner
 * would start: transport, headers, what an anonymous caller can learn, and how requests a browser
 * could forge are answered. It is not a penetration test; it catches a deployment that lost one
 * of the defaults docs/security-checklist.md promises (a proxy that strips headers, INTROSPECTION=public,
 * NODE_ENV left at development, an old TLS configuration).
 */

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

type Check = (base: URL) => Promise<Omit<CheckResult, "name">>;

const pass = (detail: string) => ({ ok: true, detail });
const fail = (detail: string) => ({ ok: false, detail });
const MIN_HSTS_SECONDS = 180 * 24 * 3600;
const CERTIFICATE_WARNING_DAYS = 14;

const at = (base: URL, path: string) => new URL(path, base);

function handshake(base: URL, options: ConnectionOptions) {
  return new Promise<{ protocol: string | null; validTo: string } | { error: string }>(
    (resolve) => {
      const socket = connect({
        host: base.hostname,
        port: Number(base.port || 443),
        servername: /^[\d.]+$|:/.test(base.hostname) ? undefined : base.hostname,
        ...options,
      });
      socket.setTimeout(10_000, () => socket.destroy(new Error("timed out")));
      socket.once("secureConnect", () => {
        resolve({ protocol: socket.getProtocol(), validTo: socket.getPeerCertificate().valid_to });
        socket.end();
      });
      socket.once("error", (error: NodeJS.ErrnoException) =>
        resolve({ error: error.code ?? error.message }),
      );
    },
  );
}

const tls: Check = async (base) => {
  if (base.protocol !== "https:") return fail(`${base.origin} is not https`);
  const modern = await handshake(base, {});
  if ("error" in modern) return fail(`TLS handshake failed: ${modern.error}`);
  const days = Math.floor((Date.parse(modern.validTo) - Date.now()) / 86_400_000);
  // SECLEVEL=0 lets this client offer TLS 1.1 at all; the server must still refuse it.
  const old = await handshake(base, {
    minVersion: "TLSv1",
    maxVersion: "TLSv1.1",
    ciphers: "DEFAULT@SECLEVEL=0",
    rejectUnauthorized: false,
  });
  if (!("error" in old)) return fail(`TLS 1.1 accepted (${old.protocol})`);
  if (days < CERTIFICATE_WARNING_DAYS) return fail(`certificate expires in ${days} days`);
  return pass(`${modern.protocol}, TLS 1.1 refused, certificate valid for ${days} more days`);
};

const headers: Check = async (base) => {
  const res = await fetch(at(base, "/healthz"));
  const missing: string[] = [];
  const expect = (name: string, test: (value: string) => boolean) => {
    const value = res.headers.get(name);
    if (value === null || !test(value)) missing.push(name);
  };
  expect("x-content-type-options", (v) => v === "nosniff");
  expect("x-frame-options", (v) => v.toUpperCase() === "DENY");
  expect("content-security-policy", (v) => v.includes("frame-ancestors 'none'"));
  expect("referrer-policy", (v) => v === "no-referrer");
  if (base.protocol === "https:") {
    expect("strict-transport-security", (v) => {
      const maxAge = /max-age=(\d+)/.exec(v)?.[1];
      return maxAge !== undefined && Number(maxAge) >= MIN_HSTS_SECONDS;
    });
  }
  if (res.headers.has("x-powered-by")) missing.push("no x-powered-by");
  return missing.length === 0
    ? pass(
        "nosniff, frame denial, CSP, referrer policy" +
          (base.protocol === "https:" ? ", HSTS" : ""),
      )
    : fail(`missing or weak: ${missing.join(", ")}`);
};

const postJson = (base: URL, body: string, headers: Record<string, string> = {}) =>
  fetch(at(base, "/graphql"), {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });

const introspection: Check = async (base) => {
  const res = await postJson(
    base,
    JSON.stringify({ query: "{ __schema { queryType { name } } }" }),
  );
  const body = (await res.json().catch(() => ({}))) as { data?: { __schema?: unknown } };
  return body.data?.__schema
    ? fail("an anonymous caller can read the schema (INTROSPECTION=public)")
    : pass(`anonymous introspection refused (HTTP ${res.status})`);
};

const csrf: Check = async (base) => {
  // Requests a browser sends cross-site without a preflight: a GET, and a text/plain POST.
  const simpleGet = await fetch(at(base, "/graphql?query=%7B__typename%7D"));
  const textPost = await fetch(at(base, "/graphql"), {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: JSON.stringify({ query: "{ __typename }" }),
  });
  const served = [simpleGet, textPost].filter((r) => r.status < 400);
  return served.length === 0
    ? pass(`simple GET ${simpleGet.status}, text/plain POST ${textPost.status}`)
    : fail(
        `a request a browser sends cross-site was served (${served.map((r) => r.status).join(", ")})`,
      );
};

const LEAKS: [RegExp, string][] = [
  [/\bat .+:\d+:\d+/, "a stack trace"],
  [/stacktrace/i, "a stacktrace extension"],
  [/\/(src|dist|node_modules)\//, "a file path"],
  [/did you mean/i, "field suggestions"],
  [/select .+ from /i, "SQL"],
];

const errors: Check = async (base) => {
  const bodies = await Promise.all([
    postJson(base, JSON.stringify({ query: "{ customerz { id } }" })),
    postJson(base, JSON.stringify({ query: "{" })),
    postJson(base, "{not json"),
    fetch(at(base, "/no-such-route")),
  ]).then((responses) => Promise.all(responses.map((r) => r.text())));
  const found = LEAKS.filter(([pattern]) => bodies.some((b) => pattern.test(b))).map(([, w]) => w);
  return found.length === 0
    ? pass("unknown field, syntax error, bad JSON and 404 answers reveal nothing")
    : fail(`an error answer contains ${found.join(", ")}`);
};

const bodyLimit: Check = async (base) => {
  const huge = JSON.stringify({ query: `{ __typename }`, variables: { x: "x".repeat(2_000_000) } });
  const res = await postJson(base, huge);
  return res.status === 413
    ? pass("a 2 MB body is refused with 413")
    : fail(`a 2 MB body got HTTP ${res.status}`);
};

const metrics: Check = async (base) => {
  const res = await fetch(at(base, "/metrics"));
  return res.status === 200
    ? fail("GET /metrics answers without a token (set METRICS_TOKEN)")
    : pass(`GET /metrics without a token: ${res.status}`);
};

export const CHECKS: Record<string, Check> = {
  tls,
  headers,
  introspection,
  csrf,
  errors,
  "body-limit": bodyLimit,
  metrics,
};

/** Runs every check against `base`; a check that throws (server unreachable) fails with why. */
export async function probe(base: URL): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const [name, check] of Object.entries(CHECKS)) {
    try {
      results.push({ name, ...(await check(base)) });
    } catch (error) {
      const cause = error instanceof Error ? (error.cause ?? error) : error;
      results.push({
        name,
        ok: false,
        detail: `could not check: ${cause instanceof Error ? cause.message : String(cause)}`,
      });
    }
  }
  return results;
}
