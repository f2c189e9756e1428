import "reflect-metadata";
import { PGlite } from "@electric-sql/pglite";
import autocannon from "autocannon";
import { buildApp } from "../src/app.js";
import { parseConfig } from "../src/config.js";
import type { Services } from "../src/graphql/types.js";
import { buildApiSchema } from "../src/graphql/schema.js";
import { createCustomer, createTenant } from "../test/support/fixtures.js";
import { startBaselineServer } from "./support/baseline-server.js";
import { listenLocally } from "./support/http.js";

/*
 * npm run bench:audit — the throughput cost of the audit log on a read-heavy workload.
 * Two servers in one process on one database: the real one (buildApp, audited) and the same
 * wiring with the audit plugin and recorder left out (built only here). Rounds alternate
 * between them so machine noise hits both alike; compare the ratio, not the absolute numbers.
 * DATABASE_URL selects PostgreSQL, else an in-memory PGlite. BENCH_SECONDS, BENCH_ROUNDS and
 * BENCH_CONNECTIONS tune it.
 */

const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);

const QUERY = `query Customers { customers(first: 20) {
  nodes { id name email phone createdAt createdBy { displayName } } } }`;

/**
 * The same server without auditing. The baseline server also leaves out the abuse limits, which the
 * audited server keeps; the schema stays shielded, so the difference is audit plus limits.
 */
async function startUnaudited(services: Services) {
  return startBaselineServer(services, await buildApiSchema());
}

async function load(url: string, token: string) {
  const result = await autocannon({
    url: `${url}/graphql`,
    method: "POST",
    connections,
    duration: seconds,
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${token}`,
      "user-agent": "bench-audit-cost",
    },
    body: JSON.stringify({ query: QUERY }),
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`bench requests failed: ${result.non2xx} non-2xx, ${result.errors} errors`);
  }
  return { rps: result.requests.average, p99: result.latency.p99 };
}

const { config } = parseConfig({
  NODE_ENV: "test",
  LOG_LEVEL: "silent",
  BCRYPT_ROUNDS: "4",
  DATABASE_URL: process.env.DATABASE_URL,
  // the benchmark measures the audit log, not the budget (which would refuse the load with 429)
  BUDGET_POINTS: "1000000000",
  BUDGET_RESTORE_PER_SECOND: "1000000000",
});
const audited = await buildApp(
  config,
  config.databaseUrl ? {} : { pglite: await PGlite.create() }, // in memory
);
const auditedUrl = await listenLocally(audited.server);
const unaudited = await startUnaudited(audited.services);

const tenant = await createTenant(auditedUrl, "bench");
const token = tenant.members.ADMIN.token;
for (let i = 0; i < 20; i++) await createCustomer(auditedUrl, token);

await load(auditedUrl, token); // warm-up (JIT, connections, caches)
await load(unaudited.url, token);

const results: { off: number[]; on: number[]; offP99: number[]; onP99: number[] } = {
  off: [],
  on: [],
  offP99: [],
  onP99: [],
};
for (let round = 1; round <= rounds; round++) {
  const off = await load(unaudited.url, token);
  const on = await load(auditedUrl, token);
  results.off.push(off.rps);
  results.on.push(on.rps);
  results.offP99.push(off.p99);
  results.onP99.push(on.p99);
  console.log(
    `round ${round}: audit off ${off.rps.toFixed(0)} req/s (p99 ${off.p99} ms), audit on ${on.rps.toFixed(0)} req/s (p99 ${on.p99} ms)`,
  );
}
await audited.audit.flush();
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const off = mean(results.off);
const on = mean(results.on);
console.log(
  `\n${audited.services.database.driver}, ${connections} connections, ${rounds} x ${seconds}s each:` +
    `\n  audit off: ${off.toFixed(0)} req/s, p99 ${mean(results.offP99).toFixed(0)} ms` +
    `\n  audit on:  ${on.toFixed(0)} req/s, p99 ${mean(results.onP99).toFixed(0)} ms` +
    `\n  throughput with auditing: ${((on / off) * 100).toFixed(1)}% of without (cost ${(((off - on) / off) * 100).toFixed(1)}%)`,
);
await unaudited.close();
await audited.close();
