import "reflect-metadata";
import { performance } from "node:perf_hooks";
import { PGlite } from "@electric-sql/pglite";
import autocannon from "autocannon";
import { buildApp } from "../src/app.js";
import { parseConfig } from "../src/config.js";
import { listenLocally, median } from "./support/http.js";

/*
 * npm run bench:pii — what decrypting personal data costs per request: an AGENT lists 100
 * customers with and without the four PII fields it may read (email, phone, dateOfBirth,
 * taxIdLast4: one contact envelope per row, 100 AES-256-GCM decryptions), side by side in one
 * run, alternating rounds so that machine noise hits both alike. Embedded PGlite unless
 * DATABASE_URL is set.
 * BENCH_SECONDS (per round, default 5) and BENCH_ROUNDS (default 3) size it.
 */

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 4;

const { config } = parseConfig({
  NODE_ENV: "test",
  LOG_LEVEL: "silent",
  BCRYPT_ROUNDS: "4",
  DATABASE_URL: process.env.DATABASE_URL,
  // the benchmark measures decryption, not the abuse limits
  COST_LIMIT: "1000000",
  BUDGET_POINTS: "1000000000",
  BUDGET_RESTORE_PER_SECOND: "1000000000",
});
const app = await buildApp(config, config.databaseUrl ? {} : { pglite: await PGlite.create() });
const url = `${await listenLocally(app.server)}/graphql`;

async function call(query: string, variables: unknown, token?: string) {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: Record<string, any>; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!;
}

// Setup: an organization, an AGENT, 100 customers with every personal field.
const suffix = Date.now().toString(36);
const admin = await call(`mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`, {
  i: {
    organizationName: `Bench ${suffix}`,
    displayName: "Bench admin",
    email: `admin.${suffix}@bench.example`,
    password: "bench-password-2026",
  },
});
const adminToken = admin.signUp.accessToken as string;
await call(
  `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`,
  {
    i: {
      displayName: "Bench agent",
      email: `agent.${suffix}@bench.example`,
      password: "bench-password-2026",
      role: "AGENT",
    },
  },
  adminToken,
);
const agent = await call(
  `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }`,
  { e: `agent.${suffix}@bench.example`, p: "bench-password-2026" },
);
const token = agent.logIn.accessToken as string;
for (let i = 0; i < 100; i++) {
  await call(
    `mutation($i: CustomerInput!) { createCustomer(input: $i) { id } }`,
    {
      i: {
        name: `Customer ${i}`,
        email: `customer.${i}.${suffix}@bench.example`,
        phone: `+1415555${String(1000 + i)}`,
        dateOfBirth: "1980-01-31",
        taxId: `BT-${100000 + i}`,
      },
    },
    token,
  );
}

const QUERIES = {
  "without PII": `{ customers(first: 100) { nodes { id name createdAt } } }`,
  "with 4 PII fields": `{ customers(first: 100) { nodes { id name createdAt email phone dateOfBirth taxIdLast4 } } }`,
};
for (const query of Object.values(QUERIES)) {
  const data = await call(query, {}, token);
  if (data.customers.nodes.length !== 100) throw new Error("expected 100 customers");
}

// Pure decryption cost, in-process, for reference.
const { cipher } = app.services;
const sealed = Array.from({ length: 400 }, (_, i) =>
  cipher.encrypt(`value-${i}@bench.example`, {
    table: "customers",
    column: "email",
    rowId: `${i}`,
  }),
);
const start = performance.now();
const REPEAT = 200;
for (let r = 0; r < REPEAT; r++) {
  sealed.forEach((s, i) =>
    cipher.decrypt(s, { table: "customers", column: "email", rowId: `${i}` }),
  );
}
const decrypt400Ms = (performance.now() - start) / REPEAT;

type Result = { requests: number[]; p50: number[]; p99: number[] };
const results: Record<string, Result> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, query] of Object.entries(QUERIES)) {
    const r = await autocannon({
      url,
      method: "POST",
      connections: CONNECTIONS,
      duration: SECONDS,
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query }),
    });
    if (r.non2xx > 0 || r.errors > 0)
      throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    const res = (results[name] ??= { requests: [], p50: [], p99: [] });
    res.requests.push(r.requests.average);
    res.p50.push(r.latency.p50);
    res.p99.push(r.latency.p99);
  }
}
await app.close();

console.log(
  `\n${app.services.database.driver}, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${SECONDS}s, 100 customers per request (medians):`,
);
const rows = Object.entries(results).map(([name, r]) => ({
  request: name,
  "req/s": Math.round(median(r.requests)),
  "p50 ms": median(r.p50),
  "p99 ms": median(r.p99),
  "ms/request": +(1000 / median(r.requests)).toFixed(2),
}));
console.table(rows);
const [plain, pii] = rows;
console.log(
  `with PII: ${(pii!["ms/request"] - plain!["ms/request"]).toFixed(2)} ms more per request ` +
    `(${((1 - pii!["req/s"] / plain!["req/s"]) * 100).toFixed(1)}% fewer req/s); ` +
    `400 decryptions alone take ${decrypt400Ms.toFixed(2)} ms in-process.`,
);
