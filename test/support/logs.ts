import { Writable } from "node:stream";
import { createLogger } from "../../src/logger.js";

/** A logger that keeps its JSON lines, to check what operators (and only they) would see. */
export function capturingLogger() {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, any>);
      }
      done();
    },
  });
  return { logger: createLogger("info", stream), lines };
}
