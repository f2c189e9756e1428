import { describe, expect, it } from "vitest";
import { FairShare, MAX_WAITING_PER_KEY } from "../../src/security/limits/fair-share.js";
import { RoundRobin } from "../../src/security/round-robin.js";

const alice = { principal: "user:alice", organization: "acme" };
const bob = { principal: "user:bob", organization: "acme" };
const carol = { principal: "user:carol", organization: "globex" };

describe("fair shares", () => {
  it("gives a principal its share, queues the next in order, and hands a freed slot on", async () => {
    const share = new FairShare({ perPrincipal: 2, perOrganization: 10, waitMs: 60_000 });
    const first = (await share.acquire(alice))!;
    const second = (await share.acquire(alice))!;
    const order: string[] = [];
    const third = share.acquire(alice).then((release) => (order.push("third"), release));
    const fourth = share.acquire(alice).then((release) => (order.push("fourth"), release));
    expect(share.usage(alice)).toMatchObject({ principal: 2, waiting: 2 });
    // another principal, of another organization, is not behind them
    expect(await share.acquire(carol)).toBeTypeOf("function");
    first();
    first(); // a second call gives nothing back twice
    await third;
    expect(order).toEqual(["third"]);
    second();
    (await fourth)!();
    expect(order).toEqual(["third", "fourth"]);
    expect(share.usage(alice)).toMatchObject({ principal: 1, waiting: 0 });
  });

  it("bounds an organization across its principals", async () => {
    const share = new FairShare({ perPrincipal: 5, perOrganization: 2, waitMs: 0 });
    expect(await share.acquire(alice)).toBeTypeOf("function");
    expect(await share.acquire(bob)).toBeTypeOf("function");
    expect(await share.acquire(alice)).toBeUndefined();
    // a refusal holds nothing: the principal's slot it took is given back
    expect(share.usage(alice)).toMatchObject({ principal: 1, organization: 2 });
    expect(await share.acquire(carol)).toBeTypeOf("function");
  });

  it("refuses a waiter past its wait, and past the queue's length at once", async () => {
    const share = new FairShare({ perPrincipal: 1, perOrganization: 10, waitMs: 30 });
    await share.acquire(alice);
    expect(await share.acquire(alice)).toBeUndefined(); // after 30 ms
    const waiters = Array.from({ length: MAX_WAITING_PER_KEY }, () => share.acquire(alice));
    expect(await share.acquire(alice)).toBeUndefined(); // at once: the queue is full
    expect(await Promise.all(waiters)).toEqual(Array(MAX_WAITING_PER_KEY).fill(undefined));
  });
});

describe("password hashing turns", () => {
  it("lets a key with one task go before another key's backlog", async () => {
    const turns = new RoundRobin(1);
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
});
