import type { FastifyInstance } from "fastify";
import type { Readiness } from "./readiness.js";

/**
 * GET /healthz: the process is alive (restart it if not). GET /readyz: it can serve (route
 * traffic to it if so): 200 when it can serve ("degraded" when it serves with less, e.g. without
 * Redis), 503 with each check's reason when not.
 */
export function registerOperationsRoutes(server: FastifyInstance, readiness: Readiness): void {
  server.get("/healthz", async (_request, reply) => {
    void reply.header("cache-control", "no-store");
    return { status: "ok" };
  });
  server.get("/readyz", async (_request, reply) => {
    const { ready, degraded, checks } = await readiness.report();
    const status = !ready ? "unavailable" : degraded ? "degraded" : "ready";
    return reply
      .code(ready ? 200 : 503)
      .header("cache-control", "no-store")
      .send({ status, checks });
  });
}
