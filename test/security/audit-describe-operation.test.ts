import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { describeOperation, storableText } from "../../src/security/audit/describe-operation.js";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("storableText", () => {
  it("keeps ordinary text as it is, non-ASCII and surrogate pairs included", () => {
    for (const text of ["Mozilla/5.0 (X11; Linux x86_64)", "Zoë 東京", "emoji 😀 pair", ""]) {
      expect(storableText(text)).toBe(text);
    }
  });

  it("drops NUL characters, which PostgreSQL text cannot hold", () => {
    expect(storableText("a\u0000b\u0000")).toBe("ab");
  });

  it("replaces lone surrogates (invalid UTF-8) and keeps the pairs around them", () => {
    expect(storableText("x\ud800y")).toBe("x\ufffdy");
    expect(storableText("x\udc00y")).toBe("x\ufffdy");
    expect(storableText("😀\ud83d")).toBe("😀\ufffd");
    expect(storableText("\udc00😀\u0000")).toBe("\ufffd😀");
  });

  it("cuts at maxLength before cleaning", () => {
    expect(storableText("abcdef", 3)).toBe("abc");
    expect(storableText("ab\u0000def", 3)).toBe("ab");
    expect(storableText("abc", 3)).toBe("abc");
  });
});

describe("describeOperation's document hash", () => {
  const query = "query Me { me { id } }";

  it("is the SHA-256 of the query text", () => {
    expect(describeOperation({ query }, 1_000).documentHash).toBe(sha256(query));
  });

  it("takes the hash the server already computed (Apollo's queryHash) instead of hashing again", () => {
    const queryHash = "a".repeat(64); // not sha256(query): shows which one was used
    expect(describeOperation({ query, queryHash }, 1_000).documentHash).toBe(queryHash);
  });

  it("is null without a query", () => {
    expect(describeOperation({ queryHash: sha256(query) }, 1_000).documentHash).toBeNull();
  });
});
