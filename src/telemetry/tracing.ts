import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { OperationPipeline } from "../graphql/pipeline/index.js";
import type { Stage } from "../graphql/pipeline/stage.js";
import { tracingRequested } from "./settings.js";

/** The process's tracing, when the OTEL_* variables ask for it (src/telemetry/settings.ts). */
export interface Tracing {
  /** A server span for each request of this server (call before it serves). */
  traceHttpRequests(server: FastifyInstance, options: { tls: boolean }): void;
  /** The pipeline with a span for each operation, for the GraphQL route. */
  traceOperations(pipeline: OperationPipeline): OperationPipeline;
  /** The pipeline stage that describes each operation's span (its last stage). */
  operationStage: Stage;
  /** Exports the spans still buffered; gives up after a second or two (a dead collector). */
  shutdown(): Promise<void>;
}

/**
 * Starts OpenTelemetry tracing if the environment asks for it. Otherwise it loads nothing: the
 * SDK, the exporter and the span code are imported only here, on demand, and neither a request
 * nor a log line pays for them.
 */
export async function startTracing(
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<Tracing | undefined> {
  if (!tracingRequested(env)) return undefined;
  const { startSdk } = await import("./sdk.js");
  return startSdk(logger);
}
