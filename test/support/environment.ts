import { existsSync } from "node:fs";
import { connect } from "node:net";

/*
 * Services some tests need beyond the two-command setup. CI (CI=true) has them all, and there a
 * missing one fails the run; on a developer's machine without them those tests are skipped, so
 * `npm test` passes on a machine that has only Node.
 */

export const inCI = process.env.CI === "true";

function answersPing(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (data) => done(data.toString().startsWith("+PONG")));
  });
}

function required<T>(what: string, value: T | undefined): T | undefined {
  if (value === undefined && inCI) throw new Error(`${what} is required in CI`);
  return value;
}

/** Redis for the tests that are about Redis: REDIS_TEST_URL, else a local one that answers. */
export const redisTestUrl: string | undefined = required(
  "Redis (REDIS_TEST_URL or 127.0.0.1:6379)",
  process.env.REDIS_TEST_URL ??
    ((await answersPing("127.0.0.1", 6379)) ? "redis://127.0.0.1:6379" : undefined),
);

/** Debian's Chromium for the real-browser test. */
export const chromiumPath: string | undefined = required(
  "Chromium (/usr/bin/chromium)",
  existsSync("/usr/bin/chromium") ? "/usr/bin/chromium" : undefined,
);
