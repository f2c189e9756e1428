/** Messages between bench/run.ts and the processes it forks (bench/seed-host.ts, server-host.ts). */
export type ServerName = "full" | "baseline";

/** What bench/seed-host.ts answers before it exits. */
export interface SeedReply {
  type: "seeded";
  /** An AGENT of the data set (password BENCH_PASSWORD). */
  agentEmail: string;
  seedSeconds: number;
}

export type HostRequest = { type: "begin" } | { type: "end" } | { type: "close" };

export type HostReply =
  | {
      type: "ready";
      /** The server's /graphql URL, and an access token of the data set's AGENT. */
      url: string;
      token: string;
      driver: string;
    }
  | { type: "begun" }
  | {
      type: "ended";
      /** SQL statements sent and HTTP requests answered by the server during the run. */
      statements: number;
      requests: number;
      peakRssBytes: number;
      /** CPU time (user + system) the server process used during the run, in microseconds. */
      cpuMicros: number;
    }
  | { type: "closed" };
