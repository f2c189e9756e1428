/*
 * A server process of `npm run bench` (bench/run.ts forks one per server; not run on its own).
 * BENCH_SERVER says which server it builds over its own database (seeded by bench/seed-host.ts)
 * and serves while the runner loads it:
 *   full      buildApp in production mode: every security layer, exactly as main.ts serves it
 *   baseline  the same resolvers, context, route and database code with shield, abuse limits,
 *             budgets, audit and encryption not installed (bench/support/bare-server.ts)
 * One process per server, so the statement counter, the resident memory and a CPU profile each
 * belong to one server alone.
 */
import "reflect-metadata";
import type { Server, ServerResponse } from "node:http";
import { buildApp } from "../src/app.js";
import { parseConfig } from "../src/config.js";
import type { Services } from "../src/graphql/types.js";
import { buildResolverSchema } from "../src/graphql/schema.js";
import { createLogger } from "../src/logger.js";
import { openServices } from "../src/services.js";
import { startBareServer } from "./support/bare-server.js";
import { BENCH_PASSWORD } from "./support/dataset.js";
import type { HostReply, HostRequest, ServerName } from "./support/host-protocol.js";
import { listenLocally, postGraphQL } from "./support/http.js";
import { PlaintextCipher } from "./support/plaintext-cipher.js";

const send = (reply: HostReply) => process.send!(reply);
/** BENCH_FULL_CIPHER=none: the full server over plaintext data, to tell encryption's share apart. */
const unencryptedFull = process.env.BENCH_FULL_CIPHER === "none";

interface HostedServer {
  services: Services;
  url: string;
  http: Server;
  /** Writes what the server buffers (audit events of reads) so that its statements count. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

async function startFull(): Promise<HostedServer> {
  const { config } = parseConfig(process.env);
  const app = await buildApp(config, unencryptedFull ? { cipher: new PlaintextCipher() } : {});
  return {
    services: app.services,
    url: await listenLocally(app.server),
    http: app.server.server,
    flush: () => app.audit.flush(),
    close: () => app.close(),
  };
}

/** The baseline reads a plaintext data set written by the same repository code (no-op cipher). */
async function startBaseline(): Promise<HostedServer> {
  const { config } = parseConfig(process.env);
  const opened = await openServices(config, createLogger(config.logLevel));
  const services: Services = { ...opened, cipher: new PlaintextCipher() };
  const bare = await startBareServer(services, await buildResolverSchema());
  return {
    services,
    url: bare.url,
    http: bare.http,
    flush: () => Promise.resolve(),
    close: async () => {
      await bare.close();
      await services.database.close();
      await services.redis?.quit();
    },
  };
}

const name = process.env.BENCH_SERVER as ServerName;
const hosted = name === "full" ? await startFull() : await startBaseline();

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
hosted.http.on("request", (_request, response: ServerResponse) => {
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
const statements = () => hosted.services.database.stats.statements;

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
  driver: hosted.services.database.driver,
});
