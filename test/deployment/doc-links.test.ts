import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { projectPath } from "../../src/paths.js";

/* Every relative link of the documentation points at a file of the repository (and a heading). */

const documents = [
  "README.md",
  "bench/README.md",
  "schema/permissions.md",
  ...readdirSync(projectPath("docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

const withoutCode = (markdown: string) =>
  markdown.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`(?!\])/g, "``");

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");

const anchorsOf = (file: string) =>
  new Set(
    [...withoutCode(readFileSync(file, "utf8")).matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      slug(m[1]!),
    ),
  );

function brokenLinks(document: string): string[] {
  const path = projectPath(document);
  const links = [...withoutCode(readFileSync(path, "utf8")).matchAll(/\]\(([^)\s]+)\)/g)].map(
    (m) => m[1]!,
  );
  return links
    .filter((link) => !/^[a-z]+:/.test(link))
    .filter((link) => {
      const [target, anchor] = link.split("#") as [string, string | undefined];
      const file = target === "" ? path : join(dirname(path), target);
      if (!file.startsWith(projectPath(".")) || !existsSync(file)) return true;
      if (anchor === undefined || !file.endsWith(".md") || statSync(file).isDirectory()) {
        return false;
      }
      return !anchorsOf(file).has(anchor);
    })
    .map((link) => `${document}: ${link}`);
}

describe("documentation links", () => {
  it("finds the documents and their links", () => {
    expect(documents.length).toBeGreaterThan(8);
    const count = documents.reduce(
      (n, doc) =>
        n + [...withoutCode(readFileSync(projectPath(doc), "utf8")).matchAll(/\]\(/g)].length,
      0,
    );
    expect(count).toBeGreaterThan(40);
  });

  it.each(documents)("every relative link of %s resolves", (document) => {
    expect(brokenLinks(document)).toEqual([]);
  });

  it("README stays a front door of at most about 200 lines", () => {
    expect(readFileSync(projectPath("README.md"), "utf8").split("\n").length).toBeLessThan(210);
  });

  it("names no file outside the repository as the policy", () => {
    for (const document of documents) {
      expect(readFileSync(projectPath(document), "utf8"), relative(".", document)).not.toMatch(
        /`ACCESS\.md`/,
      );
    }
  });
});
