import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { buildSchema, execute, parse } from "graphql";
import { describe, expect, it } from "vitest";
import { instrumentSchema, startMeter } from "../../src/security/limits/meter.js";

/*
 * The execution deadline on a small schema whose resolvers we control: a resolver that never
 * settles stands for a backend call that hangs. Without the deadline this execution would never
 * finish (and the test would time out).
 */
const schema = instrumentSchema(
  buildSchema(`
    type Item { name: String }
    type Query { hanging: Item  quick: Item  items: [Item] }
  `),
);
const never = new Promise<never>(() => {});
const rootValue = {
  hanging: () => never,
  quick: () => ({ name: "quick" }),
  items: () => [{ name: "a" }, { name: "b" }],
};

describe("execution deadline", () => {
  it("answers when the deadline passes, with what resolved and one coded error", async () => {
    const context = {};
    const document = parse("{ quick { name } hanging { name } }");
    // Generous enough that `quick` always starts before it, even on a loaded machine.
    const meter = startMeter(context, 1_000);
    const result = await execute({
      schema,
      document,
      rootValue,
      contextValue: context,
    });
    meter.stop();
    expect(result.data).toEqual({ quick: { name: "quick" }, hanging: null });
    expect(result.errors?.map((e) => [e.path, e.extensions.code])).toEqual([
      [["hanging"], "EXECUTION_TIMEOUT"],
    ]);
  });

  it("times out every field that awaits one shared promise (a loader's cached row)", async () => {
    const shared = instrumentSchema(
      buildSchema("type Row { name: String }  type Query { first: Row  second: Row }"),
    );
    const run = async (promise: Promise<{ name: string }>, timeoutMs: number) => {
      const context = {};
      const meter = startMeter(context, timeoutMs);
      const result = await execute({
        schema: shared,
        document: parse("{ first { name } second { name } }"),
        rootValue: { first: () => promise, second: () => promise },
        contextValue: context,
      });
      meter.stop();
      return result;
    };
    // the legitimate case: both fields get the row
    expect((await run(Promise.resolve({ name: "row" }), 10_000)).data).toEqual({
      first: { name: "row" },
      second: { name: "row" },
    });
    // a shared promise that hangs: both fields time out at the deadline
    const timedOut = await run(never, 50);
    expect(timedOut.data).toEqual({ first: null, second: null });
    expect(timedOut.errors?.map((e) => [e.path, e.extensions.code])).toEqual([
      [["first"], "EXECUTION_TIMEOUT"],
      [["second"], "EXECUTION_TIMEOUT"],
    ]);
  });

  it("starts no resolver once the deadline has passed", async () => {
    const context = {};
    const meter = startMeter(context, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    let called = false;
    const result = await execute({
      schema,
      document: parse("{ quick { name } }"),
      rootValue: { quick: () => ((called = true), { name: "late" }) },
      contextValue: context,
    });
    meter.stop();
    expect(called).toBe(false);
    expect(result.errors?.[0]?.extensions.code).toBe("EXECUTION_TIMEOUT");
  });

  it("counts the actual cost of what resolved", async () => {
    const context = {};
    const meter = startMeter(context, 10_000);
    await execute({
      schema,
      document: parse("{ quick { name } items { name } }"),
      rootValue,
      contextValue: context,
    });
    meter.stop();
    // quick: 1; items: 1 + 2 elements × 1
    expect(meter.actualCost).toBe(4);
  });

  it("holds no settled field's value while the operation runs on", async () => {
    setFlagsFromString("--expose-gc");
    const collectGarbage = runInNewContext("gc") as () => void;
    const meter = startMeter({}, 10_000);
    let value: object | undefined = { rows: new Array(1_000).fill("row") };
    const settled = new WeakRef(value);
    expect(await meter.race(Promise.resolve(value))).toBe(value);
    value = undefined;
    // A second field still pending: the meter (and its deadline) stay in use.
    const pending = meter.race(new Promise<never>(() => {}));
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(settled.deref()).toBeUndefined();
    meter.stop();
    void pending.catch(() => {});
  });
});
