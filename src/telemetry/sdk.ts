/*
 * The OpenTelemetry SDK, loaded only when tracing is on (tracing.ts imports this module on
 * demand): a tracer provider that batches spans and exports them with OTLP over HTTP (JSON), W3C
 * trace context as the propagator. The SDK reads the other OTEL_* variables itself: the sampler
 * (OTEL_TRACES_SAMPLER), the batching (OTEL_BSP_*), the exporter's headers, timeout and TLS.
 */
import { readFileSync } from "node:fs";
import {
  context,
  type DiagLogger,
  DiagLogLevel,
  diag,
  isSpanContextValid,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import type { Logger } from "pino";
import { projectPath } from "../paths.js";
import { traceHttpRequests } from "./http-spans.js";
import { addTraceIdsToLogs } from "./log-fields.js";
import { operationSpanStage, traceOperations } from "./operation-spans.js";
import type { Tracing } from "./tracing.js";

/** How long shutdown waits for the last spans to leave: a dead collector must not hold it. */
const SHUTDOWN_TIMEOUT_MS = 2_000;
/** The SDK's own complaints (a collector down) reach the log at most this often. */
const DIAGNOSTICS_INTERVAL_MS = 60_000;

/**
 * The SDK's diagnostics as warnings in the application log, at most one a minute: a collector
 * that is down fails every export, and that must not flood the log.
 */
/** The log fields of the span a line is written in (OpenTelemetry's log bridges' names). */
function traceIds(): Record<string, string> {
  const span = trace.getSpanContext(context.active());
  if (!span || !isSpanContextValid(span)) return {};
  return { trace_id: span.traceId, span_id: span.spanId };
}

function diagnosticsTo(logger: Logger): DiagLogger {
  let last = 0;
  const warn = (message: string) => {
    const now = Date.now();
    if (now - last < DIAGNOSTICS_INTERVAL_MS) return;
    last = now;
    logger.warn({ component: "opentelemetry" }, `tracing: ${message}`);
  };
  const ignore = () => undefined;
  return { error: warn, warn, info: ignore, debug: ignore, verbose: ignore };
}

export function startSdk(logger: Logger): Tracing {
  diag.setLogger(diagnosticsTo(logger), {
    logLevel: DiagLogLevel.WARN,
    suppressOverrideMessage: true,
  });
  const { name, version } = JSON.parse(readFileSync(projectPath("package.json"), "utf8")) as {
    name: string;
    version: string;
  };
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the env detector) win over the package's name.
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: name, [ATTR_SERVICE_VERSION]: version }))
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  // The async-local-storage context manager, and W3C traceparent/tracestate only (no baggage).
  provider.register({ propagator: new W3CTraceContextPropagator() });
  addTraceIdsToLogs(traceIds);
  logger.info({ component: "opentelemetry" }, "tracing: exporting spans with OTLP over HTTP");
  const tracer = provider.getTracer(name, version);
  return {
    traceHttpRequests: (server, { tls }) => traceHttpRequests(server, tracer, tls),
    traceOperations: (pipeline) => traceOperations(pipeline, tracer),
    operationStage: operationSpanStage,
    shutdown: async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS);
        timer.unref();
      });
      await Promise.race([provider.shutdown().catch(() => undefined), timeout]);
      clearTimeout(timer);
    },
  };
}
