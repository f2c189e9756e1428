/*
 * The server process of `npm run bench` (bench/run.ts forks it; not run on its own). It builds
 * two servers over one database handle, seeds the data set, and answers the runner over IPC:
 *   full      buildApp in production mode: every security layer, exactly as main.ts serves it
 *   baseline  the same resolvers, context, route and database with shield, abuse limits,
 *             budgets, audit and encryption not installed (bench/support/bare-server.ts)
 * The runner loads one server at a time, so the statement counter of the shared handle and the
 * process's resident memory during a run belong to the server being loaded.
 */
import "reflect-metadata";
import type { ServerResponse } from "node:http";
import { buildApp } from "../src/app.js";
import { parseConfig } from "../src/config.js";
import type { Services } from "../src/graphql/context.js";
import { buildResolverSchema } from "../src/graphql/schema.js";
import { startBareServer } from "./support/bare-server.js";
import { BENCH_DATASET, BENCH_PASSWORD, seedDataset } from "./support/dataset.js";
import { listenLocally, postGraphQL } from "./support/http.js";
import { PlaintextCipher } from "./support/plaintext-cipher.js";
import type { HostReply, HostRequest } from "./support/host-protocol.js";

const send = (reply: HostReply) => process.send!(reply);

const { config } = parseConfig(process.env);
const full = await buildApp(config);
const fullUrl = await listenLocally(full.server);
const baselineServices: Services = { ...full.services, cipher: new PlaintextCipher() };
const baseline = await startBareServer(baselineServices, await buildResolverSchema());

/** Seeds a copy of the data set through the given services and logs in as one of its agents. */
async function seedAndLogIn(services: Services, url: string, label: string): Promise<string> {
  const [agentEmail] = await seedDataset(services, BENCH_DATASET, label);
  const login = await postGraphQL(
    url,
    `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }`,
    { e: agentEmail, p: BENCH_PASSWORD },
  );
  if (!login.data?.logIn) throw new Error(`bench login failed: ${JSON.stringify(login.errors)}`);
  return login.data.logIn.accessToken as string;
}
const seedStarted = performance.now();
// The full server reads encrypted rows; the baseline reads a plaintext copy of the same data set
// (its own organizations), written by the same repository code through the no-op cipher.
const tokens = {
  full: await seedAndLogIn(full.services, fullUrl, "encrypted"),
  baseline: await seedAndLogIn(baselineServices, baseline.url, "plaintext"),
};
const seedSeconds = (performance.now() - seedStarted) / 1000;

// Requests answered and in flight on both servers (one is loaded at a time).
let answered = 0;
let inFlight = 0;
for (const server of [full.server.server, baseline.http]) {
  server.on("request", (_request, response: ServerResponse) => {
    inFlight++;
    response.once("close", () => {
      inFlight--;
      answered++;
    });
  });
}
async function settled() {
  for (let waited = 0; inFlight > 0 && waited < 10_000; waited += 10) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// Peak resident memory during a run, sampled; reset at the start of each run.
let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 50);
let statementsAtStart = 0;

process.on("message", (message: HostRequest) => {
  void (async () => {
    switch (message.type) {
      case "begin":
        peakRss = process.memoryUsage.rss();
        statementsAtStart = full.services.database.stats.statements;
        answered = 0;
        send({ type: "begun" });
        break;
      case "end":
        // Requests the load generator gave up on at the end still finish here and are counted.
        await settled();
        // Audit events of reads are buffered: their inserts belong to the run that caused them.
        await full.audit.flush();
        peakRss = Math.max(peakRss, process.memoryUsage.rss());
        send({
          type: "ended",
          statements: full.services.database.stats.statements - statementsAtStart,
          requests: answered,
          peakRssBytes: peakRss,
        });
        break;
      case "close":
        clearInterval(sampler);
        await baseline.close();
        await full.close();
        // Exit once the reply is out (a --cpu-prof profile is written on exit).
        process.send!({ type: "closed" } satisfies HostReply, () => process.exit(0));
        break;
    }
  })().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
});

send({
  type: "ready",
  urls: { full: `${fullUrl}/graphql`, baseline: `${baseline.url}/graphql` },
  tokens,
  driver: full.services.database.driver,
  seedSeconds,
});
