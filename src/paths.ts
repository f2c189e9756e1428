import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findProjectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("package.json not found above " + import.meta.url);
    dir = parent;
  }
  return dir;
}

/** The project root, the same from src/ (tsx, vitest) and from dist/src/ (node). */
export const projectRoot = findProjectRoot();
export const projectPath = (...parts: string[]): string => join(projectRoot, ...parts);
