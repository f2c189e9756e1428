import type { FastifyInstance } from "fastify";
import type { OperationPipeline } from "../graphql/pipeline/index.js";
import type { Stage } from "../graphql/pipeline/stage.js";

/** The process's tracing, when the OTEL_* variables ask for it (start.ts, settings.ts). */
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
