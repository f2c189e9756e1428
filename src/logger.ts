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
