import { parseArgs } from "node:util";
import { probe } from "../security/probe.js";

/*
 * npm run security:probe -- --url https://staging.example.com: checks a running server from
 * outside (TLS, headers, anonymous introspection, CSRF refusal, error leakage, body limit,
 * /metrics). One line a check; exit status 0 when all pass, 1 when one fails, 2 on a usage error.
 * A private CA (a staging certificate) is trusted with NODE_EXTRA_CA_CERTS=/path/to/ca.pem.
 */
let url: URL;
try {
  const { values } = parseArgs({ options: { url: { type: "string" } } });
  if (!values.url) throw new Error("--url is required, e.g. --url https://staging.example.com");
  url = new URL(values.url);
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new Error("--url must be http(s)");
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(2);
}

const results = await probe(url);
for (const { name, ok, detail } of results)
  console.log(`${ok ? "PASS" : "FAIL"} ${name}: ${detail}`);
process.exitCode = results.every((r) => r.ok) ? 0 : 1;
