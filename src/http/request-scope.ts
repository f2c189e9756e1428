import { AsyncLocalStorage } from "node:async_hooks";
import type { FastifyInstance } from "fastify";

/**
 * The HTTP request an asynchronous call chain belongs to, so that code without access to the
 * request (Apollo's formatError) can still put the request id on every error it formats.
 */
const scope = new AsyncLocalStorage<{ requestId: string }>();

export const runInRequestScope = <T>(requestId: string, fn: () => T): T =>
  scope.run({ requestId }, fn);

export const currentRequestId = (): string | undefined => scope.getStore()?.requestId;

/** Every response names its request id, the key to its log lines and to support requests. */
export function registerRequestIdHeader(server: FastifyInstance): void {
  server.addHook("onRequest", async (request, reply) => {
    void reply.header("x-request-id", request.id);
  });
}
