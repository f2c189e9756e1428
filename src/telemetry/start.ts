import type { Logger } from "pino";
import { tracingRequested } from "./settings.js";
import type { Tracing } from "./tracing.js";

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
