import { createRequire } from "node:module";
import pino, { type Logger } from "pino";
import { serializeError, serializeRequest } from "./log-serializers.js";
import { traceLogFields } from "./telemetry/log-fields.js";

/**
 * Structured JSON logs. Credentials and personal data must never reach them: known secret
 * headers and variables are redacted here, and code logs ids and codes, never values.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      mixin: traceLogFields,
      // Win over Fastify's defaults: those log the URL, and an error's every field.
      serializers: { req: serializeRequest, err: serializeError },
      redact: {
        paths: [
          "req.headers.authorization",
          "req.headers.cookie",
          "*.password",
          "*.currentPassword",
          "*.newPassword",
          "*.clientSecret",
          "*.refreshToken",
          "*.accessToken",
        ],
        censor: "[redacted]",
      },
    },
    destination,
  );
}

/** LOG_FORMAT: `auto` (the default), `json` or `pretty`. */
export type LogFormatSetting = "auto" | "json" | "pretty";

/**
 * JSON lines are for machines (log shippers, `jq`); a person watching a development server in a
 * terminal gets them pretty. `auto` is pretty exactly then: NODE_ENV=development and stdout a
 * terminal (not a pipe, a file or a container's log).
 */
export function chooseLogFormat(
  setting: LogFormatSetting,
  nodeEnv: string,
  stdoutIsTerminal: boolean,
): "json" | "pretty" {
  if (setting !== "auto") return setting;
  return nodeEnv === "development" && stdoutIsTerminal ? "pretty" : "json";
}

type PrettyStreamFactory = (options: Record<string, unknown>) => pino.DestinationStream;

/**
 * pino-pretty, a development dependency: loaded only when pretty logs are chosen, so production
 * (installed without development dependencies, and always JSON) never needs it.
 */
function loadPinoPretty(): PrettyStreamFactory | undefined {
  try {
    return createRequire(import.meta.url)("pino-pretty") as PrettyStreamFactory;
  } catch {
    return undefined;
  }
}

/**
 * The server's logger on stdout (or `destination`), in the format LOG_FORMAT chooses. Pretty
 * output is the same redacted records, formatted: nothing more reaches it than reaches JSON.
 */
export function createServerLogger(
  settings: { logLevel: string; logFormat: LogFormatSetting; nodeEnv: string },
  destination: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
  loadPretty: () => PrettyStreamFactory | undefined = loadPinoPretty,
): Logger {
  const toStdout = destination === process.stdout;
  const format = chooseLogFormat(settings.logFormat, settings.nodeEnv, destination.isTTY === true);
  const pretty = format === "pretty" ? loadPretty() : undefined;
  if (pretty) {
    const stream = pretty({
      destination: toStdout ? 1 : destination,
      sync: true, // the last lines before process.exit are written, not lost (development only)
      colorize: destination.isTTY === true,
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname",
    });
    return createLogger(settings.logLevel, stream);
  }
  // Stdout is written synchronously: an asynchronous write still in flight when the process
  // exits (process.exit after "stopped" or "failed to start") was lost or came after later lines
  // on a loaded machine. The given stream otherwise.
  const logger = createLogger(
    settings.logLevel,
    toStdout ? pino.destination({ dest: 1, sync: true }) : destination,
  );
  if (format === "pretty") {
    logger.warn(
      "pretty logs need the pino-pretty package (npm install --save-dev pino-pretty): logging JSON",
    );
  }
  return logger;
}
