import { createServer, connect, type Socket } from "node:net";

/**
 * A TCP proxy in front of PostgreSQL that can silence connections: the database's bytes stop
 * reaching the client while the socket stays open, as a NAT or firewall that dropped the
 * connection leaves it (a half-open connection no close event reports).
 */
export interface PgProxy {
  port: number;
  /** Silences every open connection whose startup message names this application. */
  silence(applicationName: string): number;
  close(): Promise<void>;
}

export async function startPgProxy(target: { host: string; port: number }): Promise<PgProxy> {
  const connections = new Set<{ startup: string; silenced: boolean; sockets: Socket[] }>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    const connection = { startup: "", silenced: false, sockets: [client, upstream] };
    connections.add(connection);
    client.on("data", (chunk) => {
      if (connection.startup.length < 4096) connection.startup += chunk.toString("latin1");
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!connection.silenced) client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      connections.delete(connection);
    };
    for (const socket of connection.sockets) socket.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    silence(applicationName) {
      let silenced = 0;
      for (const connection of connections) {
        if (!connection.startup.includes(applicationName)) continue;
        connection.silenced = true;
        silenced++;
      }
      return silenced;
    },
    close: async () => {
      for (const connection of connections)
        for (const socket of connection.sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
