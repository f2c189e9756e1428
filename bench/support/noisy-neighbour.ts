/*
 * The noisy-neighbour line of `npm run bench`: a victim tenant's latency measured alone, then
 * while another tenant floods the same server (bench/flood-host.ts, a process of its own), on a
 * server with production defaults: budgets, fair shares, password-hashing turns, as shipped.
 */
import type { ChildProcess } from "node:child_process";
import autocannon from "autocannon";
import type { FloodReply, FloodRequest } from "./host-protocol.js";

/**
 * The victim's reads: its users in turn, each well within its budget (2,000 points, 100 a
 * second), as real clients are. Its writes run beside them at a slower pace.
 */
export const VICTIM_READS_PER_SECOND = 60;
const VICTIM_WRITES_PER_SECOND = 3;
const VICTIM_CONNECTIONS = 4;
const FLOOD_CONNECTIONS = 8;
/** The flood starts this long before the victim is measured, so that it is at full strength. */
const FLOOD_LEAD_SECONDS = 2;
const READINESS_POLL_MS = 250;

const json = (query: string, variables?: object) => JSON.stringify({ query, variables });
/** A read of one's own user (1 point), and a page of customers with personal data (6 points). */
const READS = [
  json("query Me { me { id displayName } }"),
  json("query Page { customers(first: 5) { nodes { id name email phone } } }"),
];
let written = 0;
const write = () =>
  json("mutation Add($input: CustomerInput!) { createCustomer(input: $input) { id } }", {
    input: { name: `Victim customer ${++written}`, phone: "+14155550100" },
  });

export interface Latencies {
  p50: number;
  p99: number;
  max: number;
  requests: number;
  errors: number;
}

export interface VictimRun {
  reads: Latencies;
  writes: Latencies;
  /** GET /readyz answers other than 200 while the victim was measured. */
  unready: number;
}

/** Requests at `rate` a second over `connections`, each request a body with one user's token. */
async function paced(
  url: string,
  requests: { token: string; body: () => string }[],
  rate: number,
  connections: number,
  seconds: number,
): Promise<Latencies> {
  let graphqlErrors = 0;
  const result = await autocannon({
    url,
    method: "POST",
    connections,
    overallRate: rate,
    duration: seconds,
    requests: requests.map(({ token, body }) => ({
      method: "POST",
      setupRequest: (req) => ({
        ...req,
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: body(),
      }),
      onResponse: (_status, responseBody) => {
        if (responseBody.includes('"errors"')) graphqlErrors++;
      },
    })),
  });
  return {
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    requests: result.requests.total,
    errors: result.non2xx + result.errors + result.timeouts + graphqlErrors,
  };
}

async function victim(url: string, tokens: string[], seconds: number): Promise<VictimRun> {
  let unready = 0;
  const readyz = url.replace(/\/graphql$/, "/readyz");
  const poller = setInterval(() => {
    void fetch(readyz).then(
      (response) => {
        if (response.status !== 200) unready++;
      },
      () => unready++,
    );
  }, READINESS_POLL_MS);
  try {
    const reads = tokens.flatMap((token) => READS.map((body) => ({ token, body: () => body })));
    const writes = tokens.map((token) => ({ token, body: write }));
    const [readRun, writeRun] = await Promise.all([
      paced(url, reads, VICTIM_READS_PER_SECOND, VICTIM_CONNECTIONS, seconds),
      paced(url, writes, VICTIM_WRITES_PER_SECOND, 1, seconds),
    ]);
    return { reads: readRun, writes: writeRun, unready };
  } finally {
    clearInterval(poller);
  }
}

export interface NoisyNeighbourResult {
  seconds: number;
  victims: number;
  alone: VictimRun;
  flooded: VictimRun;
  floods: FloodReply["floods"];
}

/**
 * The victim (its users' tokens) alone for `seconds`, then again while `flooder` (a forked
 * flood-host) floods with the other tenant's tokens.
 */
export async function measureNoisyNeighbour(options: {
  url: string;
  victimTokens: string[];
  adminToken: string;
  userToken: string;
  seconds: number;
  /** The victim's load before it is measured (a server in production runs warm). */
  warmupSeconds: number;
  flooder: ChildProcess;
}): Promise<NoisyNeighbourResult> {
  const { url, seconds, flooder, victimTokens } = options;
  if (options.warmupSeconds > 0) await victim(url, victimTokens, options.warmupSeconds);
  const alone = await victim(url, victimTokens, seconds);
  const flooded = new Promise<FloodReply>((resolve, reject) => {
    flooder.once("message", resolve);
    flooder.once("exit", (code) => reject(new Error(`the flood process exited (${code})`)));
  });
  flooder.send({
    type: "flood",
    url,
    adminToken: options.adminToken,
    userToken: options.userToken,
    seconds: seconds + FLOOD_LEAD_SECONDS + 1,
    connections: FLOOD_CONNECTIONS,
  } satisfies FloodRequest);
  await new Promise((resolve) => setTimeout(resolve, FLOOD_LEAD_SECONDS * 1000));
  const underFlood = await victim(url, victimTokens, seconds);
  return {
    seconds,
    victims: victimTokens.length,
    alone,
    flooded: underFlood,
    floods: (await flooded).floods,
  };
}

/** Prints the line; true when its target is met. */
export function printNoisyNeighbour(result: NoisyNeighbourResult): boolean {
  const { alone, flooded } = result;
  const ratio = flooded.reads.p99 / Math.max(1, alone.reads.p99);
  const row = (name: string, run: VictimRun) => {
    const cells = (l: Latencies) =>
      [l.p50, l.p99, l.max, l.requests, l.errors].map((n) => String(n).padStart(6));
    return [
      name.padEnd(12),
      ...cells(run.reads),
      ...cells(run.writes),
      String(run.unready).padStart(8),
    ].join("  ");
  };
  console.log(
    `\n7 noisy neighbour (production defaults): organization 1 (${result.victims} users reading at ` +
      `${VICTIM_READS_PER_SECOND} req/s in all: me, a 5-customer page with personal data; writing ` +
      `createCustomer at ${VICTIM_WRITES_PER_SECOND} req/s), ${result.seconds} s alone and ` +
      `${result.seconds} s while organization 2 floods (${FLOOD_CONNECTIONS} connections each, at full speed):`,
  );
  console.log(
    `${"".padEnd(12)}  ${"reads: p50 / p99 / max ms, requests, errors".padEnd(46)}  ${"writes: the same".padEnd(46)}  /readyz`,
  );
  console.log(row("alone", alone));
  console.log(row("under flood", flooded));
  for (const flood of result.floods) {
    const statuses = Object.entries(flood.statuses)
      .map(([status, count]) => `${count} × ${status}`)
      .join(", ");
    console.log(`  flood ${flood.name}: ${statuses || "nothing answered"}`);
  }
  const clean = (run: VictimRun) =>
    run.reads.errors + run.writes.errors === 0 &&
    run.unready === 0 &&
    Math.max(run.reads.max, run.writes.max) < 1000;
  const met = ratio <= 2 && clean(flooded);
  console.log(
    `Victim read p99 under flood / alone: ${ratio.toFixed(2)}× (target ≤ 2×; and under flood no ` +
      `errors, /readyz always 200, every read and write answered within 1 s): ${met ? "met" : "MISSED"}.`,
  );
  return met;
}
