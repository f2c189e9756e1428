/*
 * What authorization costs on the heaviest common read: customers(first: 100) with every scalar
 * field, as an ADMIN (every field allowed, so every rule runs and the full payload is served).
 * Three servers built in this process from the same code and database, measured side by side:
 *   baseline   the TypeGraphQL schema without graphql-shield (exists only here)
 *   shielded   the served schema: shield with synchronous allowed decisions
 *   plain      shield's own middleware on every decided field (for comparison)
 * Run: npm run bench:authz  (DATABASE_URL=… to use PostgreSQL; in-memory PGlite otherwise)
 */
import "reflect-metadata";
import { PGlite } from "@electric-sql/pglite";
import autocannon from "autocannon";
import { execute, parse } from "graphql";
import { buildApp, type App } from "../src/app.js";
import { parseConfig } from "../src/config.js";
import { createContext } from "../src/graphql/context.js";
import { loadPrincipal, verifyAuthorization } from "../src/security/principal.js";
import { describeAccess } from "../src/security/authz/document.js";
import { applyAuthorization } from "../src/security/authz/shield.js";
import { buildApiSchema, buildResolverSchema } from "../src/graphql/schema.js";
import { listenLocally, median, postGraphQL } from "./support/http.js";

const DURATION_S = Number(process.env.BENCH_DURATION ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const EXECUTIONS = Number(process.env.BENCH_EXECUTIONS ?? 300);
const QUERY = `{ customers(first: 100) { nodes {
  id name createdAt updatedAt email phone dateOfBirth taxId taxIdLast4 } } }`;

const { config } = parseConfig({
  NODE_ENV: "test",
  LOG_LEVEL: "silent",
  BCRYPT_ROUNDS: "4",
  DATABASE_URL: process.env.DATABASE_URL,
  REDIS_URL: undefined,
});
const pglite = config.databaseUrl ? undefined : await PGlite.create();
const deps = pglite ? { pglite } : {};

async function serve(app: App): Promise<{ app: App; url: string }> {
  return { app, url: await listenLocally(app.server) };
}

const plainShield = await buildResolverSchema();
describeAccess(plainShield);
const schemas = {
  baseline: await buildResolverSchema(),
  shielded: await buildApiSchema(),
  plain: applyAuthorization(plainShield, { syncAllow: false }),
};
const servers = {
  baseline: await serve(await buildApp(config, { ...deps, schema: schemas.baseline })),
  shielded: await serve(await buildApp(config, { ...deps, schema: schemas.shielded })),
  plain: await serve(await buildApp(config, { ...deps, schema: schemas.plain })),
};

// One organization with 100 customers, every field filled.
const signUp = await postGraphQL(
  servers.shielded.url,
  `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`,
  {
    input: {
      organizationName: "Bench Org",
      displayName: "Bench Admin",
      email: `bench.${Date.now()}@test.example`,
      password: "correct horse battery staple",
    },
  },
);
const token = signUp.data!.signUp.accessToken as string;
for (let i = 0; i < 100; i++) {
  const created = await postGraphQL(
    servers.shielded.url,
    `mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }`,
    {
      input: {
        name: `Customer ${i}`,
        email: `customer${i}@test.example`,
        phone: "+14155550123",
        dateOfBirth: "1980-01-31",
        taxId: "123-45-6789",
      },
    },
    token,
  );
  if (created.errors) throw new Error(JSON.stringify(created.errors));
}

// All three must serve the same 100 complete rows before their speed means anything.
const reference = JSON.stringify(await postGraphQL(servers.baseline.url, QUERY, {}, token));
for (const [name, { url }] of Object.entries(servers)) {
  const body = await postGraphQL(url, QUERY, {}, token);
  if (body.errors || body.data?.customers.nodes.length !== 100) {
    throw new Error(`${name} did not serve 100 customers: ${JSON.stringify(body.errors)}`);
  }
  if (JSON.stringify(body) !== reference) throw new Error(`${name} served different data`);
}

interface Run {
  rps: number;
  /** CPU time of this process (servers and load generator) per request, in ms. */
  cpuMsPerRequest: number;
}

async function measure(url: string, duration = DURATION_S): Promise<Run> {
  const cpuBefore = process.cpuUsage();
  const result = await autocannon({
    url: `${url}/graphql`,
    method: "POST",
    connections: CONNECTIONS,
    duration,
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: QUERY }),
  });
  const cpu = process.cpuUsage(cpuBefore);
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: failed requests`);
  return {
    rps: result.requests.average,
    cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / Math.max(1, result.requests.total),
  };
}

// Short rounds, the three servers back to back in each, so that load from elsewhere on the
// machine hits them alike; the figures are medians over rounds.
const names = Object.keys(servers) as (keyof typeof servers)[];
for (const name of names) await measure(servers[name].url, 2); // warm-up: JIT, pools, caches
const runs: Record<keyof typeof servers, Run[]> = { baseline: [], shielded: [], plain: [] };
for (let round = 1; round <= ROUNDS; round++) {
  const order = round % 2 ? names : [...names].reverse();
  for (const name of order) {
    const run = await measure(servers[name].url);
    runs[name].push(run);
    console.log(
      `round ${round}  ${name.padEnd(8)} ${run.rps.toFixed(1)} req/s  ${run.cpuMsPerRequest.toFixed(2)} CPU ms/request`,
    );
  }
}
console.log(
  `\ncustomers(first: 100), 9 scalar fields, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${DURATION_S}s per server`,
);
for (const name of names) {
  const rps = median(runs[name].map((r) => r.rps));
  const cpu = median(runs[name].map((r) => r.cpuMsPerRequest));
  const rpsRatio = median(runs[name].map((r, i) => r.rps / runs.baseline[i]!.rps));
  const cpuRatio = median(
    runs.baseline.map((b, i) => b.cpuMsPerRequest / runs[name][i]!.cpuMsPerRequest),
  );
  console.log(
    `${name.padEnd(8)} ${rps.toFixed(1)} req/s (${rpsRatio.toFixed(2)}× baseline, median of per-round ratios)  ` +
      `${cpu.toFixed(2)} CPU ms/request (${cpuRatio.toFixed(2)}× baseline throughput per CPU)`,
  );
}
/*
 * The same operation executed in-process (no HTTP, no load generator), the three schemas taking
 * turns request by request: drift in the machine's load then hits all three alike.
 */
const services = servers.shielded.app.services;
const principal = await loadPrincipal(
  verifyAuthorization(`Bearer ${token}`, services.tokens)!,
  services.database.db,
);
const document = parse(QUERY);
const executionMs: Record<keyof typeof servers, number[]> = {
  baseline: [],
  shielded: [],
  plain: [],
};
for (let i = 0; i < EXECUTIONS; i++) {
  for (const name of i % 2 ? names : [...names].reverse()) {
    const contextValue = createContext(services, {
      principal,
      requestId: "bench",
      ip: "127.0.0.1",
      userAgent: undefined,
    });
    const started = performance.now();
    const result = await execute({ schema: schemas[name], document, contextValue });
    executionMs[name].push(performance.now() - started);
    if (result.errors) throw new Error(JSON.stringify(result.errors));
  }
}
console.log(`\nexecution only, ${EXECUTIONS} interleaved executions per schema (median ms)`);
const baselineMs = median(executionMs.baseline);
for (const name of names) {
  const ms = median(executionMs[name]);
  console.log(
    `${name.padEnd(8)} ${ms.toFixed(2)} ms  ${(baselineMs / ms).toFixed(2)}× baseline speed`,
  );
}

for (const { app } of Object.values(servers)) await app.close();
await pglite?.close();
