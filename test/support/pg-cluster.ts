import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { promisify } from "node:util";
import { freePort } from "./server-process.js";

/*
 * A PostgreSQL server of a test's own, which it can stop and start under a running API: a
 * cluster made with Debian's postgresql-common tools (on the developer and CI machines), on a
 * free port, trusting local connections, dropped at the end.
 */

const run = promisify(execFile);
const CREATE_CLUSTER = "/usr/bin/pg_createcluster";

/** Whether this machine can make clusters (Debian's PostgreSQL packages, run as root). */
export const canMakeClusters = existsSync(CREATE_CLUSTER) && process.getuid?.() === 0;

export interface PgCluster {
  url: string;
  /** Starts the server unless it is running. */
  start(): Promise<void>;
  /** Stops the server at once, as a crash or a lost host would (no shutdown checkpoint). */
  kill(): Promise<void>;
  drop(): Promise<void>;
}

export async function makeCluster(): Promise<PgCluster> {
  const version = readdirSync("/etc/postgresql").sort().at(-1)!;
  const name = `faults_${randomBytes(4).toString("hex")}`;
  const port = await freePort();
  await run(CREATE_CLUSTER, [version, name, "-p", String(port), "--", "--auth=trust"]);
  let running = false;
  const ctl = async (...args: string[]) => {
    try {
      await run("pg_ctlcluster", [version, name, ...args]);
    } catch (error) {
      const { stderr } = error as { stderr?: string };
      throw new Error(`pg_ctlcluster ${args.join(" ")}: ${stderr?.trim() || String(error)}`);
    }
  };
  const cluster: PgCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: async () => {
      if (running) return;
      await ctl("start");
      running = true;
    },
    kill: async () => {
      await ctl("stop", "-m", "immediate");
      running = false;
    },
    drop: async () => void (await run("pg_dropcluster", [version, name, "--stop"])),
  };
  await cluster.start();
  return cluster;
}
