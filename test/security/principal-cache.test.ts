import { describe, expect, it } from "vitest";
import { PrincipalCache } from "../../src/security/principal-cache.js";

/** A lookup that counts its calls and resolves when told to. */
function lookup<T extends object>(value: T) {
  const calls = { count: 0 };
  let release: () => void = () => undefined;
  const load = () => {
    calls.count++;
    return new Promise<T>((resolve) => (release = () => resolve(value)));
  };
  return { calls, load, release: () => release() };
}

describe("the principal cache", () => {
  it("keeps a row found while announcements are heard, and forgets it when one concerns it", async () => {
    const cache = new PrincipalCache({ maxEntries: 10, maxAgeMs: 60_000 });
    cache.setListening(true);
    const row = { role: "AGENT" };
    let loads = 0;
    const load = () => (loads++, Promise.resolve(row));
    await cache.get("user a", ["u:a", "s:1"], load);
    expect(await cache.get("user a", ["u:a", "s:1"], load)).toBe(row);
    expect(loads).toBe(1);
    cache.forget("u:b"); // another user's change
    await cache.get("user a", ["u:a", "s:1"], load);
    expect(loads).toBe(1);
    cache.forget("s:1"); // its session ended
    await cache.get("user a", ["u:a", "s:1"], load);
    expect(loads).toBe(2);
  });

  it("does not keep a row whose lookup was under way when a change was announced", async () => {
    const cache = new PrincipalCache({ maxEntries: 10, maxAgeMs: 60_000 });
    cache.setListening(true);
    const slow = lookup({ role: "ADMIN" });
    const reading = cache.get("user a", ["u:a"], slow.load);
    cache.forget("u:a"); // committed after the lookup read the row, heard before it returned
    slow.release();
    await reading;
    const again = lookup({ role: "VIEWER" });
    const next = cache.get("user a", ["u:a"], again.load);
    again.release();
    expect(await next).toEqual({ role: "VIEWER" });
    expect(again.calls.count).toBe(1);
  });

  it("reads the database on every request while announcements cannot be heard", async () => {
    const cache = new PrincipalCache({ maxEntries: 10, maxAgeMs: 60_000 });
    let loads = 0;
    const load = () => (loads++, Promise.resolve({ role: "AGENT" }));
    await cache.get("user a", ["u:a"], load);
    await cache.get("user a", ["u:a"], load);
    expect(loads).toBe(2); // not listening yet
    cache.setListening(true);
    await cache.get("user a", ["u:a"], load);
    await cache.get("user a", ["u:a"], load);
    expect(loads).toBe(3);
    cache.setListening(false); // the connection was lost: what was kept is dropped
    cache.setListening(true); // listening again: changes made meanwhile were not heard
    await cache.get("user a", ["u:a"], load);
    expect(loads).toBe(4);
  });

  it("never keeps a lookup that found nothing, nor more rows than its bound, nor a row past its age", async () => {
    const cache = new PrincipalCache({ maxEntries: 2, maxAgeMs: 50 });
    cache.setListening(true);
    let loads = 0;
    const missing = () => (loads++, Promise.resolve(undefined));
    await cache.get("user gone", ["u:gone"], missing);
    await cache.get("user gone", ["u:gone"], missing);
    expect(loads).toBe(2);
    for (const id of ["a", "b", "c"]) await cache.get(`user ${id}`, [], () => Promise.resolve({}));
    expect(cache.size).toBe(2);
    let reads = 0;
    const found = () => (reads++, Promise.resolve({}));
    await cache.get("user d", [], found);
    await new Promise((resolve) => setTimeout(resolve, 60));
    await cache.get("user d", [], found);
    expect(reads).toBe(2);
  });

  it("forgets what a committed transaction listed, or everything when it listed too much", async () => {
    const cache = new PrincipalCache({ maxEntries: 100, maxAgeMs: 60_000 });
    cache.setListening(true);
    const keep = (id: string) =>
      cache.get(`user ${id}`, [`u:${id}`], () => Promise.resolve({ id }));
    for (const id of ["a", "b", "c"]) await keep(id);
    cache.forgetCommitted(" u:a u:c");
    expect(cache.size).toBe(1);
    cache.forgetCommitted(null); // a mutation that changed no principal
    cache.forgetCommitted("");
    expect(cache.size).toBe(1);
    for (const id of ["a", "c"]) await keep(id);
    cache.forgetCommitted("*");
    expect(cache.size).toBe(0);
    for (const id of ["a", "b"]) await keep(id);
    cache.forget("*"); // a table emptied (TRUNCATE), as another server announces it
    expect(cache.size).toBe(0);
  });

  it("forgets one change among many kept rows without touching the others", async () => {
    const cache = new PrincipalCache({ maxEntries: 20_000, maxAgeMs: 60_000 });
    cache.setListening(true);
    for (let i = 0; i < 10_000; i++) {
      await cache.get(`user ${i} session`, [`u:${i}`], () => Promise.resolve({ i }));
    }
    for (let i = 0; i < 10_000; i += 2) cache.forget(`u:${i}`);
    expect(cache.size).toBe(5_000);
    let loads = 0;
    await cache.get("user 1 session", ["u:1"], () => (loads++, Promise.resolve({})));
    await cache.get("user 2 session", ["u:2"], () => (loads++, Promise.resolve({})));
    expect(loads).toBe(1);
  });
});
