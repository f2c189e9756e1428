import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { projectPath } from "../../src/paths.js";

const run = promisify(execFile);

/** Runs `npm run security:probe -- --url <url>` (compiled) as its own process: exit code and output lines. */
export async function securityProbe(url: string, env: Record<string, string> = {}) {
  try {
    const { stdout } = await run(
      process.execPath,
      [projectPath("dist/src/cli/security-probe.js"), "--url", url],
      { env: { PATH: process.env.PATH, ...env }, cwd: projectPath(".") },
    );
    return { code: 0, lines: stdout.trim().split("\n") };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, lines: failed.stdout.trim().split("\n") };
  }
}
