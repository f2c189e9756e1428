import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ACTIVE_TENANT_MEMORY_MS,
  FairShare,
  MAX_WAITING_PER_TENANT,
} from "../../src/security/limits/fair-share.js";
import { RoundRobin, WaitedTooLong } from "../../src/security/round-robin.js";

const alice = { principal: "user:alice", organization: "acme" };
const bob = { principal: "user:bob", organization: "acme" };
const carol = { principal: "user:carol", organization: "globex" };
const anonymous = { principal: "ip:192.0.2.1", organization: undefined };

afterEach(() => {
  vi.useRealTimers();
});

describe("fair shares", () => {
  it("gives a principal its share, queues the next in order, and hands a freed slot on", async () => {
    const share = new FairShare({ perPrincipal: 2, perOrganization: 10, waitMs: 60_000 });
    const first = (await share.acquire(alice))!;
    const second = (await share.acquire(alice))!;
    const order: string[] = [];
    const third = share.acquire(alice).then((release) => (order.push("third"), release));
    const fourth = share.acquire(alice).then((release) => (order.push("fourth"), release));
    expect(share.usage(alice)).toMatchObject({ principal: 2, waiting: 2 });
    // bob, of the same organization, is not stuck behind alice's own limit
    (await share.acquire(bob))!();
    first();
    first(); // a second call gives nothing back twice
    await third;
    expect(order).toEqual(["third"]);
    second();
    (await fourth)!();
    expect(order).toEqual(["third", "fourth"]);
    expect(share.usage(alice)).toMatchObject({ principal: 1, waiting: 0 });
  });

  it("gives a tenant alone the whole share, and cuts it to its part while another is active", async () => {
    vi.useFakeTimers();
    const share = new FairShare({ perPrincipal: 10, perOrganization: 4, waitMs: 0 });
    const held = [];
    for (let i = 0; i < 4; i++) held.push(await share.acquire(i % 2 ? alice : bob));
    expect(held.every((release) => typeof release === "function")).toBe(true);
    expect(await share.acquire(alice)).toBeUndefined(); // acme alone: 4 at once
    // globex arrives: two tenants, two each; globex runs although acme still holds 4
    const globex = (await share.acquire(carol))!;
    expect(share.usage(carol)).toMatchObject({ share: 2, tenant: 1 });
    held.pop()!();
    held.pop()!();
    expect(await share.acquire(alice)).toBeUndefined(); // acme holds 2, its part
    // an anonymous address is a tenant too: three tenants, one each
    const address = (await share.acquire(anonymous))!;
    expect(share.usage(anonymous)).toMatchObject({ share: 1 });
    address();
    globex();
    // a second after they went quiet they no longer count: acme has the whole share again
    vi.advanceTimersByTime(ACTIVE_TENANT_MEMORY_MS + 1);
    expect(share.usage(alice)).toMatchObject({ share: 4, tenant: 2 });
    expect(await share.acquire(alice)).toBeTypeOf("function");
  });

  it("refuses a waiter past its wait, and past the queue's length at once", async () => {
    const share = new FairShare({ perPrincipal: 1, perOrganization: 10, waitMs: 30 });
    await share.acquire(alice);
    expect(await share.acquire(alice)).toBeUndefined(); // after 30 ms
    const waiters = Array.from({ length: MAX_WAITING_PER_TENANT }, () => share.acquire(alice));
    expect(await share.acquire(alice)).toBeUndefined(); // at once: the queue is full
    expect(await Promise.all(waiters)).toEqual(Array(MAX_WAITING_PER_TENANT).fill(undefined));
  });
});

describe("password hashing turns", () => {
  it("lets a key with one task go before another key's backlog", async () => {
    const turns = new RoundRobin({ concurrency: 1, waitingPerKey: 10, waiting: 10 });
    const order: string[] = [];
    const gates: (() => void)[] = [];
    const task = (name: string) => () =>
      new Promise<void>((resolve) => {
        order.push(name);
        gates.push(resolve);
      });
    const all = [
      turns.run("flooder", task("f1")),
      turns.run("flooder", task("f2")),
      turns.run("flooder", task("f3")),
      turns.run("victim", task("v1")),
    ];
    expect(turns.running).toBe(1);
    expect(turns.waiting).toBe(3);
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      gates[i]!();
    }
    await Promise.all(all);
    expect(order).toEqual(["f1", "v1", "f2", "f3"]);
  });

  it("bounds the queue per key and in all, and drops a task whose time is up before its turn", async () => {
    vi.useFakeTimers();
    const turns = new RoundRobin({ concurrency: 1, waitingPerKey: 2, waiting: 3 });
    let finish!: () => void;
    const running = turns.run("a", () => new Promise<void>((resolve) => (finish = resolve)));
    const waiting = [
      turns.run("a", () => Promise.resolve()),
      turns.run("a", () => Promise.resolve()),
    ];
    await expect(turns.run("a", () => Promise.resolve())).rejects.toMatchObject({ scope: "key" });
    const late = turns.run("b", () => Promise.resolve("ran"), Date.now() + 100);
    await expect(turns.run("c", () => Promise.resolve())).rejects.toMatchObject({ scope: "all" });
    vi.advanceTimersByTime(101);
    await expect(late).rejects.toThrow(WaitedTooLong); // dropped at its deadline, never run
    expect(turns.waiting).toBe(2);
    finish();
    await running;
    await Promise.all(waiting);
    expect(turns).toMatchObject({ running: 0, waiting: 0 });
  });
});
