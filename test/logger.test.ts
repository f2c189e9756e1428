import { createRequire } from "node:module";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.js";
import { chooseLogFormat, createServerLogger } from "../src/logger.js";
import { productionEnv } from "./support/server.js";

/** A stream that keeps what is written to it, as a terminal (isTTY) or a pipe would get it. */
function output(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString("utf8"));
        done();
      },
    }),
    { isTTY },
  );
  return { stream, text: () => chunks.join("") };
}

const jsonLines = (text: string) =>
  text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

const prettyInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve("pino-pretty");
    return true;
  } catch {
    return false;
  }
})();

describe("log format", () => {
  it("auto: pretty only in development on a terminal; JSON for pipes, files and other environments", () => {
    expect(chooseLogFormat("auto", "development", true)).toBe("pretty");
    expect(chooseLogFormat("auto", "development", false)).toBe("json");
    expect(chooseLogFormat("auto", "production", true)).toBe("json");
    expect(chooseLogFormat("auto", "test", true)).toBe("json");
    expect(chooseLogFormat("json", "development", true)).toBe("json");
    expect(chooseLogFormat("pretty", "development", false)).toBe("pretty");
  });

  it("LOG_FORMAT defaults to auto, and pretty is refused in production (log pipelines read JSON)", () => {
    expect(parseConfig({ NODE_ENV: "test" }).config.logFormat).toBe("auto");
    expect(parseConfig({ NODE_ENV: "test", LOG_FORMAT: "json" }).config.logFormat).toBe("json");
    expect(() => parseConfig({ NODE_ENV: "test", LOG_FORMAT: "yaml" })).toThrow(/LOG_FORMAT/);
    expect(() => parseConfig(productionEnv({ LOG_FORMAT: "pretty" }))).toThrow(
      /LOG_FORMAT must not be pretty in production/,
    );
    expect(parseConfig(productionEnv({ LOG_FORMAT: "json" })).config.logFormat).toBe("json");
  });

  it("a development server on a pipe logs JSON lines, redacted", () => {
    const out = output(false);
    const logger = createServerLogger(
      { logLevel: "info", logFormat: "auto", nodeEnv: "development" },
      out.stream,
    );
    logger.info({ user: { password: "hunter2" } }, "started");
    const [line] = jsonLines(out.text());
    expect(line).toMatchObject({ msg: "started", user: { password: "[redacted]" } });
  });

  it.runIf(prettyInstalled)(
    "a development server on a terminal logs readable lines, redacted all the same",
    async () => {
      const out = output(true);
      const logger = createServerLogger(
        { logLevel: "info", logFormat: "auto", nodeEnv: "development" },
        out.stream,
      );
      logger.info({ user: { password: "hunter2" } }, "started");
      await expect.poll(() => out.text()).toContain("started");
      expect(() => jsonLines(out.text())).toThrow();
      expect(out.text()).toContain("[redacted]");
      expect(out.text()).not.toContain("hunter2");
    },
  );

  it("without pino-pretty installed, pretty falls back to JSON and says which package is missing", () => {
    const out = output(true);
    const logger = createServerLogger(
      { logLevel: "info", logFormat: "auto", nodeEnv: "development" },
      out.stream,
      () => undefined,
    );
    logger.info("started");
    const lines = jsonLines(out.text());
    expect(lines.map((line) => line.msg)).toEqual([
      expect.stringContaining("pino-pretty"),
      "started",
    ]);
  });
});
