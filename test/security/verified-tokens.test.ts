import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AccessTokens, InvalidTokenError } from "../../src/security/tokens.js";

/*
 * A token verified once is not verified again on every request: the process keeps it until it
 * expires. What it keeps must never let through what a full check would refuse.
 */

const settings = {
  secret: "a-test-secret-that-is-long-enough-for-hs256-0123456789",
  previousSecrets: [],
  issuer: "customer-records-api",
  audience: "customer-records-api",
  accessTokenSeconds: 60,
  clientTokenSeconds: 60,
};

afterEach(() => vi.useRealTimers());

describe("verified access tokens", () => {
  it("are answered from memory with the same claims, frozen", () => {
    const tokens = new AccessTokens(settings);
    const { token } = tokens.signUser(randomUUID(), randomUUID(), randomUUID());
    const first = tokens.verify(token);
    expect(tokens.verify(token)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it("are refused once expired, though kept (past the 5 s clock tolerance, as a full check)", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-12-07T12:00:00Z"));
    const tokens = new AccessTokens(settings);
    const { token } = tokens.signUser(randomUUID(), randomUUID(), randomUUID());
    tokens.verify(token);
    vi.setSystemTime(new Date("2026-12-07T12:01:04Z")); // 64 s: within exp + 5 s
    expect(() => tokens.verify(token)).not.toThrow();
    vi.setSystemTime(new Date("2026-12-07T12:01:06Z"));
    expect(() => tokens.verify(token)).toThrow(InvalidTokenError);
    expect(() => tokens.verify(token)).toThrow(InvalidTokenError); // and stays refused
  });

  it("never stand in for another text: a token with one character changed is checked, and refused", () => {
    const tokens = new AccessTokens(settings);
    const { token } = tokens.signClient(randomUUID(), randomUUID(), ["customers:read"]);
    tokens.verify(token);
    const [header, payload, signature] = token.split(".");
    const flipped = signature!.startsWith("A")
      ? `B${signature!.slice(1)}`
      : `A${signature!.slice(1)}`;
    expect(() => tokens.verify(`${header}.${payload}.${flipped}`)).toThrow(InvalidTokenError);
    const other = new AccessTokens({ ...settings, secret: `${settings.secret}-other` });
    expect(() => other.verify(token)).toThrow(InvalidTokenError); // kept per key set, not shared
  });
});
