/*
 * A server process of `npm run bench` (bench/run.ts forks one per server; not run on its own).
 * BENCH_SERVER says which server it builds over its own database (seeded by bench/seed-host.ts)
 * and serves while the runner loads it:
 *   full      buildApp in production mode: every security layer, exactly as main.ts serves it
 *   baseline  the same resolvers, context, route and database code with shield, abuse limits,
 *             budgets, audit and encryption not installed (bench/support/baseline-server.ts)
 *   bare      what a user would run instead: Apollo Server standalone over a graphql-js schema
 *             of the contract SDL, hand-written resolvers, postgres-js and DataLoader, no
 *             application code at all (bench/support/bare/)
 * One process per server, so the statement counter, the resident memory and a CPU profile each
 * belong to one server alone; each loads only its own server's code.
 */
import { subscribe } from "node:diagnostics_channel";
import type { IncomingMessage, ServerResponse } from "node:http";
import { BENCH_PASSWORD } from "./support/dataset.js";
import type { HostReply, HostRequest, ServerName } from "./support/host-protocol.js";
import type { HostedServer } from "./support/hosted-server.js";
import { postGraphQL } from "./support/http.js";

const send = (reply: HostReply) => process.send!(reply);

async function start(name: ServerName): Promise<HostedServer> {
  if (name === "bare") return (await import("./support/bare/host.js")).startBare();
  const app = await import("./support/app-hosts.js");
  // BENCH_FULL_CIPHER=none: the full server over plaintext data, to tell encryption's share apart.
  return name === "full"
    ? app.startFull(process.env.BENCH_FULL_CIPHER === "none")
    : app.startBaseline();
}

const name = process.env.BENCH_SERVER as ServerName;
const hosted = await start(name);

const login = await postGraphQL(
  hosted.url,
  `mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }`,
  { e: process.env.BENCH_AGENT_EMAIL, p: BENCH_PASSWORD },
);
if (!login.data?.logIn) throw new Error(`bench login failed: ${JSON.stringify(login.errors)}`);
const token = login.data.logIn.accessToken as string;

let answered = 0;
let answeredSinceStart = 0; // for per-request figures from a CPU profile, which covers them all
let inFlight = 0;
// Every HTTP request this process serves, whichever framework serves it (the bare server's
// standalone Apollo keeps its node:http server to itself).
subscribe("http.server.request.start", (message) => {
  const { response } = message as { request: IncomingMessage; response: ServerResponse };
  inFlight++;
  response.once("close", () => {
    inFlight--;
    answered++;
    answeredSinceStart++;
  });
});
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
let cpuAtStart = process.cpuUsage();
const statements = () => hosted.statements();

process.on("message", (message: HostRequest) => {
  void (async () => {
    switch (message.type) {
      case "begin":
        peakRss = process.memoryUsage.rss();
        statementsAtStart = statements();
        cpuAtStart = process.cpuUsage();
        answered = 0;
        send({ type: "begun" });
        break;
      case "end": {
        // Requests the load generator gave up on at the end still finish here and are counted.
        await settled();
        // Audit events of reads are buffered: their inserts belong to the run that caused them.
        await hosted.flush();
        peakRss = Math.max(peakRss, process.memoryUsage.rss());
        const cpu = process.cpuUsage(cpuAtStart);
        send({
          type: "ended",
          statements: statements() - statementsAtStart,
          requests: answered,
          peakRssBytes: peakRss,
          cpuMicros: cpu.user + cpu.system,
        });
        break;
      }
      case "close":
        clearInterval(sampler);
        if (process.execArgv.includes("--cpu-prof")) {
          console.log(`${name} server: ${answeredSinceStart} requests answered in all`);
        }
        await hosted.close();
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
  url: `${hosted.url}/graphql`,
  token,
  driver: hosted.driver,
});
