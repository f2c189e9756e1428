/*
 * Trusted-document manifests as GraphQL Code Generator's client preset writes them with
 * `persistedDocuments` (persisted-documents.json): one JSON object, document id → document text.
 * TRUSTED_DOCUMENTS names one such file or a directory whose *.json files are all manifests
 * (one per app or per release). Anything doubtful stops the server from starting.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { ConfigError } from "../../config.js";

export interface ManifestEntry {
  id: string;
  /** The document's text, exactly as the app sends it by id. */
  source: string;
  /** The manifest that gave it (for messages). */
  file: string;
}

/** Ids are names an app puts in URLs: printable ASCII without spaces, of a sane length. */
const ID_PATTERN = /^[\x21-\x7e]{1,256}$/;
/**
 * The client preset's ids: the document's hash in hex, `sha256:`-prefixed for sha256 (the
 * GraphQL-over-HTTP form), bare for sha1 (its default); bare sha256 as other tools write it.
 */
const HASH_IDS: readonly { pattern: RegExp; algorithm: string }[] = [
  { pattern: /^(?:sha256:)?([0-9a-f]{64})$/, algorithm: "sha256" },
  { pattern: /^([0-9a-f]{40})$/, algorithm: "sha1" },
];

/** The hash an id says its document has, if it looks like one. */
function claimedHash(id: string): { hex: string; algorithm: string } | undefined {
  for (const { pattern, algorithm } of HASH_IDS) {
    const hex = pattern.exec(id)?.[1];
    if (hex) return { hex, algorithm };
  }
  return undefined;
}

const hexDigest = (algorithm: string, text: string): string =>
  createHash(algorithm).update(text).digest("hex");

const refuse = (message: string): never => {
  throw new ConfigError(`Invalid trusted documents: ${message}`);
};

function manifestFiles(path: string): string[] {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    return refuse(`TRUSTED_DOCUMENTS ${path} does not exist or cannot be read`);
  }
  if (!isDirectory) return [path];
  const files = readdirSync(path)
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => join(path, name));
  if (files.length === 0) refuse(`the directory ${path} holds no *.json manifest`);
  return files;
}

function readManifest(file: string): [string, string][] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return refuse(`${file} is not readable JSON`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return refuse(`${file} must be a JSON object of document id → document text`);
  }
  const entries = Object.entries(parsed as Record<string, unknown>);
  if (entries.length === 0) refuse(`${file} has no documents`);
  return entries.map(([id, source]) => {
    if (!ID_PATTERN.test(id)) {
      refuse(
        `${file}: the id ${JSON.stringify(id.slice(0, 80))} is not 1 to 256 printable characters`,
      );
    }
    if (typeof source !== "string" || source.trim() === "") {
      refuse(`${file}: the document of id ${id} is not a non-empty string`);
    }
    // An id that looks like a hash must be its document's: a mismatch means a corrupt or
    // hand-edited manifest, whose id names a document other than the one the app was built with.
    const hash = claimedHash(id);
    if (hash && hexDigest(hash.algorithm, source as string) !== hash.hex) {
      refuse(`${file}: the id ${id} is not the ${hash.algorithm} of its document`);
    }
    return [id, source as string];
  });
}

/**
 * Every document of the manifests at `path`, by id. The same id in two manifests must give the
 * same document (apps built from one codebase share operations); otherwise the server does not
 * start, since which of the two an app meant cannot be known.
 */
export function readManifests(path: string): Map<string, ManifestEntry> {
  const documents = new Map<string, ManifestEntry>();
  for (const file of manifestFiles(path)) {
    for (const [id, source] of readManifest(file)) {
      const known = documents.get(id);
      if (known && known.source !== source) {
        refuse(
          `the id ${id} names different documents in ${basename(known.file)} and ${basename(file)}`,
        );
      }
      documents.set(id, known ?? { id, source, file });
    }
  }
  return documents;
}
