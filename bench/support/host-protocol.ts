import type { SeededMembers } from "./dataset.js";

/** Messages between bench/run.ts and the processes it forks (seed-host, server-host, flood-host). */
export type ServerName = "full" | "baseline" | "bare";

/** What bench/seed-host.ts answers before it exits. */
export interface SeedReply {
  type: "seeded";
  /** The AGENTs and an ADMIN of each organization of the data set (password BENCH_PASSWORD). */
  members: SeededMembers[];
  seedSeconds: number;
}

/** bench/flood-host.ts: one tenant (and an anonymous address) flooding the server. */
export interface FloodRequest {
  type: "flood";
  url: string;
  /** An ADMIN's token: createUser at full speed (each hashes a password). */
  adminToken: string;
  /** A user's token of the same organization: `{ __typename }` at full speed. */
  userToken: string;
  seconds: number;
  connections: number;
}

export interface FloodReply {
  type: "flooded";
  /** Per flood: requests answered, by HTTP status. */
  floods: { name: string; statuses: Record<string, number> }[];
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
