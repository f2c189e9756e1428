import { ConfigError } from "../config.js";

/**
 * Tracing is opt-in by the standard OpenTelemetry variables: it starts only when an OTLP endpoint
 * is given (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT) and neither
 * OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none turns it off. Every other OTEL_* variable
 * (service name, sampler, headers, timeouts, batching) is read by the SDK itself. Spans go as
 * OTLP/HTTP JSON, which collectors take on the same port as protobuf; gRPC is refused.
 */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  if (exporter === "none") return false;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!traces && !base) return false;
  if (exporter && exporter !== "otlp") {
    throw new ConfigError(
      `OTEL_TRACES_EXPORTER=${exporter}: only "otlp" (OTLP over HTTP) or "none"`,
    );
  }
  const protocol = (
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL
  )?.trim();
  if (protocol === "grpc") {
    throw new ConfigError(
      "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: spans are sent with OTLP over HTTP (port 4318), not gRPC",
    );
  }
  for (const [name, value] of [
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", base],
  ] as const) {
    if (value && !isHttpUrl(value)) {
      throw new ConfigError(`${name} must be an http(s) URL, e.g. http://localhost:4318`);
    }
  }
  return true;
}

function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === "http:" || protocol === "https:";
  } catch {
    return false;
  }
}
