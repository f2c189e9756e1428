import pino, { type DestinationStream, type Logger } from "pino";

interface LoggedRequest {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/**
 * The request line as logged: the path without its query string, which on a GraphQL GET holds
 * the query and its variables (personal data, e.g. a filter by email).
 */
const requestSerializer = (req: LoggedRequest) => ({
  method: req.method,
  url: req.url.split("?")[0],
  host: req.host,
  remoteAddress: req.ip,
  remotePort: req.socket?.remotePort,
});

/**
 * Structured JSON logs. Credentials and personal data must never reach them: known secret
 * headers and variables are redacted here, query strings are not logged, and code logs ids
 * and codes, never values.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      serializers: { req: requestSerializer },
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
