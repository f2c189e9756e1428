/** A server as bench/server-host.ts serves it, whichever server it is. */
export interface HostedServer {
  /** Base URL (the GraphQL endpoint is `${url}/graphql`). */
  url: string;
  driver: string;
  /** SQL statements sent since start. */
  statements(): number;
  /** Writes what the server buffers (audit events of reads) so that its statements count. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
