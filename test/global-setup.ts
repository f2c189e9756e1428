import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { TestProject } from "vitest/node";
import { projectPath } from "../src/paths.js";

/*
 * One audit signing key for every test server, so a test can verify a database that servers of
 * other test files (and of earlier runs, on a reused DATABASE_URL) checkpointed too. Generated
 * on a machine's first run and kept out of the repository.
 */
const KEY_FILE = projectPath("node_modules/.cache/customer-records-api/test-audit-signing-key.pem");

function testSigningKey(): string {
  if (existsSync(KEY_FILE)) return readFileSync(KEY_FILE, "utf8");
  const { privateKey } = generateKeyPairSync("ed25519");
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  mkdirSync(dirname(KEY_FILE), { recursive: true });
  writeFileSync(KEY_FILE, pem, { mode: 0o600 });
  return pem;
}

/** Server processes run the compiled server: compiled once here when the sources are newer. */
function buildIfStale(): void {
  const build = spawnSync(process.execPath, [projectPath("scripts/build-if-stale.mjs")], {
    cwd: projectPath("."),
    stdio: "inherit",
  });
  if (build.status !== 0) throw new Error("the build failed: test servers run dist/");
}

export default function setup(project: TestProject): void {
  buildIfStale();
  project.provide("auditSigningKey", testSigningKey());
}

declare module "vitest" {
  export interface ProvidedContext {
    auditSigningKey: string;
  }
}
