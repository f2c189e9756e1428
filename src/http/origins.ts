/**
 * CORS_ORIGINS entries: exact origins ("https://app.example.com") or an origin with any port
 * ("http://localhost:*"). Matching compares parsed URL parts, never a regular expression built
 * from configuration, so an entry cannot widen itself ("https://a.example" does not match
 * "https://a.example.evil.test").
 */
export interface OriginPattern {
  protocol: string;
  hostname: string;
  /** undefined: any port. Otherwise the exact port ("" for the scheme's default). */
  port: string | undefined;
}

const ANY_PORT = ":*";

/**
 * CORS_ORIGINS when unset in development: a dev server on this machine at any port, under each
 * name a browser may use for it (Vite prints localhost, others 127.0.0.1, some [::1]). Never a
 * default outside development.
 */
export const DEVELOPMENT_ORIGINS: readonly string[] = [
  "http://localhost:*",
  "http://127.0.0.1:*",
  "http://[::1]:*",
];

/** Parses one entry; returns an error message for a value that is not an origin. */
export function parseOriginPattern(entry: string): OriginPattern | string {
  const anyPort = entry.endsWith(ANY_PORT);
  const candidate = anyPort ? entry.slice(0, -ANY_PORT.length) : entry;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return `"${entry}" is not an origin (scheme://host[:port])`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `"${entry}" must be an http or https origin`;
  }
  if (url.hostname.includes("*")) {
    return `"${entry}": only the port may be a wildcard (scheme://host:*)`;
  }
  // An origin has no path, query, fragment or credentials, and the entry must be its canonical form.
  if (url.origin !== candidate || (anyPort && url.port !== "")) {
    return `"${entry}" is not an origin (scheme://host[:port] or scheme://host:*, no path or trailing slash)`;
  }
  return { protocol: url.protocol, hostname: url.hostname, port: anyPort ? undefined : url.port };
}

export function parseOriginPatterns(entries: readonly string[]): OriginPattern[] {
  return entries.map((entry) => {
    const pattern = parseOriginPattern(entry);
    if (typeof pattern === "string") throw new Error(pattern);
    return pattern;
  });
}

/** Whether a request's Origin header is one of the allowed origins. */
export function originAllowed(origin: string, patterns: readonly OriginPattern[]): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.origin !== origin) return false; // "null", paths, user info: not a plain origin
  return patterns.some(
    (p) =>
      p.protocol === url.protocol &&
      p.hostname === url.hostname &&
      (p.port === undefined || p.port === url.port),
  );
}
