import { randomUUID } from "node:crypto";

/** The last timestamp and counter handed out, so ids from this process only ever increase. */
const state = { ms: -1, counter: 0 };

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter (method 1) and 62
 * random bits, so ids sort by creation time and stay unique within a millisecond. The random
 * bits come from Node's buffered randomUUID (a pool filled 128 ids at a time): the uuid
 * package's v7 asks getRandomValues for 16 bytes per id, which costs several microseconds
 * a call here and showed in the profile of every request (each has an audit event id).
 */
export function uuidv7(): string {
  const random = randomUUID(); // version 4: 8-4-4-4-12 hex, variant bits already set
  const now = Date.now();
  if (now > state.ms) {
    state.ms = now;
    // a random start in the lower half leaves at least 2,048 ids for this millisecond
    state.counter = Number.parseInt(random.slice(15, 18), 16) & 0x7ff;
  } else if (++state.counter > 0xfff) {
    state.ms += 1; // more than the counter holds: borrow the next millisecond, as RFC 9562 allows
    state.counter = 0;
  }
  const ms = state.ms.toString(16).padStart(12, "0");
  const counter = state.counter.toString(16).padStart(3, "0");
  return `${ms.slice(0, 8)}-${ms.slice(8)}-7${counter}${random.slice(18)}`;
}
