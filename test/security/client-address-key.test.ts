import { describe, expect, it } from "vitest";
import { clientAddressKey } from "../../src/security/auth-limits.js";

describe("clientAddressKey (the per-address attempt counter's key)", () => {
  it("keeps IPv4 addresses apart, and counts an IPv4-mapped IPv6 address as its IPv4", () => {
    expect(clientAddressKey("203.0.113.7")).toBe("203.0.113.7");
    expect(clientAddressKey("203.0.113.8")).toBe("203.0.113.8");
    expect(clientAddressKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
  });

  it("counts a whole IPv6 /64 as one client, however the address is written", () => {
    const key = clientAddressKey("2001:db8:0:1::1");
    expect(key).toBe("2001:db8:0:1::/64");
    expect(clientAddressKey("2001:0db8:0000:0001:ffff:ffff:ffff:ffff")).toBe(key);
    expect(clientAddressKey("2001:DB8:0:1:abcd::")).toBe(key);
    expect(clientAddressKey("2001:db8:0:2::1")).not.toBe(key);
    expect(clientAddressKey("::1")).toBe("0:0:0:0::/64");
  });
});
