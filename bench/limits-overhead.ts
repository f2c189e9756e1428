/*
 * What the abuse limits add to one operation, measured side by side in one process (ratios, not
 * absolute times): the static analysis of the largest SPA query (depth + cost), and the meter's
 * resolver wrappers on a list of 100 objects × 10 fields with a resolver on each object field.
 *
 *   npx tsx bench/limits-overhead.ts
 */
import { buildSchema, execute, parse, validate } from "graphql";
import {
  exceedsDepth,
  expandedFieldCount,
  requestedCost,
} from "../src/security/limits/analysis.js";
import { instrumentSchema, startMeter } from "../src/security/limits/meter.js";
import { buildApiSchema } from "../src/graphql/schema.js";

function opsPerSecond(run: () => unknown, ms = 1500): number {
  for (let i = 0; i < 200; i++) run(); // warm up
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    run();
    n++;
  }
  return (n * 1000) / (performance.now() - start);
}
async function asyncOpsPerSecond(run: () => Promise<unknown>, ms = 1500): Promise<number> {
  for (let i = 0; i < 50; i++) await run();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    await run();
    n++;
  }
  return (n * 1000) / (performance.now() - start);
}

const sdl = `
  type Owner { name: String }
  type Row { a: String b: String c: String d: String e: String f: String g: String h: String i: String owner: Owner }
  type Query { rows: [Row] }`;
const rows = Array.from({ length: 100 }, (_, i) => ({
  a: "a",
  b: "b",
  c: "c",
  d: "d",
  e: "e",
  f: "f",
  g: "g",
  h: "h",
  i: String(i),
  owner: () => Promise.resolve({ name: "o" }),
}));
const listQuery = parse("{ rows { a b c d e f g h i owner { name } } }");
const plain = buildSchema(sdl);
const metered = instrumentSchema(buildSchema(sdl));

const runPlain = async () =>
  await execute({
    schema: plain,
    document: listQuery,
    rootValue: { rows: () => rows },
    contextValue: {},
  });
const runMetered = async () => {
  const context = {};
  const meter = startMeter(context, 10_000);
  await execute({
    schema: metered,
    document: listQuery,
    rootValue: { rows: () => rows },
    contextValue: context,
  });
  meter.stop();
};
// Alternating short rounds, so load from other processes hits both alike; medians reported.
const plainRates: number[] = [];
const meteredRates: number[] = [];
for (let round = 0; round < 12; round++) {
  plainRates.push(await asyncOpsPerSecond(runPlain, 300));
  meteredRates.push(await asyncOpsPerSecond(runMetered, 300));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const plainRate = median(plainRates);
const meteredRate = median(meteredRates);

const api = await buildApiSchema();
const spa = parse(`{ customers(first: 20) { totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id name email phone dateOfBirth taxId taxIdLast4 createdAt updatedAt
    createdBy { id displayName role }
    notes(first: 5) { totalCount edges { node { id body private createdAt author { id displayName } } } } } } } }`);
const validateRate = opsPerSecond(() => validate(api, spa)); // what Apollo runs anyway
const analysisRate = opsPerSecond(() => {
  expandedFieldCount(spa);
  exceedsDepth(api, spa, 10);
  requestedCost(api, spa, {});
});

console.log(`list of 100 × 10 fields, plain execute:   ${plainRate.toFixed(0)} ops/s`);
console.log(`list of 100 × 10 fields, metered execute: ${meteredRate.toFixed(0)} ops/s`);
console.log(`  metered / plain = ${(meteredRate / plainRate).toFixed(2)}`);
console.log(`SPA query graphql-js validation:      ${validateRate.toFixed(0)} ops/s`);
console.log(`SPA query depth + cost analysis:      ${analysisRate.toFixed(0)} ops/s`);
console.log(`  analysis time / validation time = ${(validateRate / analysisRate).toFixed(2)}`);
