import pino, { type Logger } from "pino";
import { serializeRequest } from "./http/log-serializers.js";

/**
 * Structured JSON logs. Credentials and personal data must never reach them: known secret
 * headers and variables are redacted here, and code logs ids and codes, never values.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      serializers: { req: serializeRequest }, // wins over Fastify's default, which logs the URL
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
