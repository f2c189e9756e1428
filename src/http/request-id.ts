import type { FastifyInstance } from "fastify";

/** Every response names its request id, the key to its log lines and to support requests. */
export function registerRequestIdHeader(server: FastifyInstance): void {
  server.addHook("onRequest", async (request, reply) => {
    void reply.header("x-request-id", request.id);
  });
}
