import { BlockList, isIP } from "node:net";

/**
 * Whether an address is a proxy this server trusts: `hop` 0 is the socket's peer, 1 the address
 * it forwarded for, and so on back along X-Forwarded-For. Fastify's `trustProxy` takes it as is.
 */
export type ProxyTrust = (address: string, hop: number) => boolean;

/** The names proxy-addr (Fastify's) gives to private ranges, kept so existing settings still mean the same. */
const NAMED_RANGES: Record<string, readonly (readonly [string, number])[]> = {
  loopback: [
    ["127.0.0.0", 8],
    ["::1", 128],
  ],
  linklocal: [
    ["169.254.0.0", 16],
    ["fe80::", 10],
  ],
  uniquelocal: [
    ["10.0.0.0", 8],
    ["172.16.0.0", 12],
    ["192.168.0.0", 16],
    ["fc00::", 7],
  ],
};

const familyOf = (address: string) => (isIP(address) === 4 ? "ipv4" : "ipv6");

/** Adds one entry (an address, a CIDR or a range's name) or returns why it is none of these. */
function addEntry(trusted: BlockList, entry: string): string | undefined {
  const named = NAMED_RANGES[entry];
  if (named) {
    for (const [network, prefix] of named) trusted.addSubnet(network, prefix, familyOf(network));
    return undefined;
  }
  const [address = "", prefixText, ...rest] = entry.split("/");
  const version = isIP(address);
  if (version === 0 || rest.length > 0) {
    return `"${entry}" is not an address, a CIDR or one of ${Object.keys(NAMED_RANGES).join(", ")}`;
  }
  if (prefixText === undefined) {
    trusted.addAddress(address, familyOf(address));
    return undefined;
  }
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > (version === 4 ? 32 : 128)) {
    return `"${entry}" has an invalid prefix length`;
  }
  trusted.addSubnet(address, prefix, familyOf(address));
  return undefined;
}

/**
 * TRUST_PROXY: unset or "false" (no proxy: X-Forwarded-* ignored), "true" (every peer is a
 * proxy), a hop count (that many proxies in front), or comma-separated addresses, CIDRs and the
 * names loopback, linklocal, uniquelocal (the proxies' own addresses). Returns the trust, or
 * undefined for none, or an error message for a setting that is none of these.
 */
export function parseProxyTrust(value: string | undefined): ProxyTrust | undefined | string {
  const setting = value?.trim();
  if (!setting || setting === "false") return undefined;
  if (setting === "true") return () => true;
  if (/^\d+$/.test(setting)) {
    const hops = Number(setting);
    return hops === 0 ? undefined : (_address, hop) => hop < hops;
  }
  const trusted = new BlockList();
  for (const entry of setting.split(",").map((s) => s.trim())) {
    const problem = addEntry(trusted, entry);
    if (problem) return problem;
  }
  return (address) => {
    const version = isIP(address);
    return version !== 0 && trusted.check(address, version === 4 ? "ipv4" : "ipv6");
  };
}
