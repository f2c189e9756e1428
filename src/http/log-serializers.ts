/**
 * The request as it appears in the logs: method, path and client address. Never the query
 * string (a GET /graphql carries the operation's variables there: emails, names, tokens) and
 * never headers (Authorization).
 */
export function serializeRequest(request: { method?: string; url?: string; ip?: string }) {
  return {
    method: request.method,
    path: request.url?.split("?", 1)[0],
    remoteAddress: request.ip,
  };
}
