// Compiles src/ to dist/ only when dist/ is missing or older than the sources, so that
// `npm start` does not compile on every start. The build itself happens once, at install
// (the "prepare" script); this catches a checkout or an edit since then.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import process from "node:process";

const OUTPUT = "dist/src/main.js";
const INPUTS = ["src", "tsconfig.json", "tsconfig.build.json"];

/** The newest modification time under a path (a directory's own time counts: a file deleted). */
function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

function builtAt() {
  try {
    return statSync(OUTPUT).mtimeMs;
  } catch {
    return -Infinity;
  }
}

if (INPUTS.some((input) => newest(input) > builtAt())) {
  process.stderr.write(`${OUTPUT} is missing or older than the sources: building once\n`);
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const build = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
    stdio: "inherit",
  });
  process.exit(build.status ?? 1);
}
