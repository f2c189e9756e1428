/** Messages between bench/run.ts and the server process it forks (bench/server-host.ts). */
export type ServerName = "full" | "baseline";

export type HostRequest = { type: "begin" } | { type: "end" } | { type: "close" };

export type HostReply =
  | {
      type: "ready";
      urls: Record<ServerName, string>;
      tokens: Record<ServerName, string>;
      driver: string;
      seedSeconds: number;
    }
  | { type: "begun" }
  | {
      type: "ended";
      /** SQL statements sent and HTTP requests answered by the server during the run. */
      statements: number;
      requests: number;
      peakRssBytes: number;
    }
  | { type: "closed" };
