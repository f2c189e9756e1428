import type { FastifyInstance } from "fastify";

/**
 * Graceful shutdown over keep-alive connections. server.close() stops accepting and closes the
 * connections idle at that moment, but a connection busy with an in-flight request would stay
 * open (idle, kept alive) after its response and hold close() until the keep-alive timeout.
 * While draining, every response says `Connection: close`, so each connection ends with it.
 */
export function registerConnectionDraining(server: FastifyInstance): { drain(): void } {
  let draining = false;
  server.addHook("onSend", async (_request, reply, payload) => {
    if (draining) void reply.header("connection", "close");
    return payload;
  });
  return {
    drain: () => {
      draining = true;
    },
  };
}
