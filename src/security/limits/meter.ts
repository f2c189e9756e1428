import type { GraphQLSchema } from "graphql";
import {
  type FieldResolver,
  isPromiseLike,
  wrapFieldResolvers,
} from "../../graphql/resolver-wrappers.js";
import { executionTimeout } from "./errors.js";
import { type FieldCostKind, fieldCostKind, MUTATION_COST, OBJECT_COST } from "./cost-model.js";

/*
 * The actual cost and the execution deadline of one operation.
 *
 * graphql-js 16 cannot cancel an execution, so the deadline works at field boundaries: once it
 * has passed, no further resolver starts (each throws EXECUTION_TIMEOUT at once), and every
 * resolver still awaiting I/O is raced against the deadline, so the response is sent when the
 * deadline passes instead of when the slowest promise settles. Work already handed to the
 * database runs on until its statement_timeout; nothing new is started.
 *
 * The deadline is the timer's: it fires as soon as the event loop is free, which is at the
 * latest when the execution next waits for I/O (a synchronous stretch of resolvers only reads
 * what is already in memory). Reading the clock in every resolver instead cost a 50-row page
 * 400 clock reads for the same effect.
 */
export class OperationMeter {
  /** The cost of what really resolved, from the same model as the requested cost. */
  actualCost = 0;
  private readonly timer: NodeJS.Timeout;
  /**
   * How to reject each resolver promise still pending, so the deadline can settle them all.
   * Not `Promise.race` against one operation-long promise: every race would leave a reaction on
   * that promise, holding each field's promise and value until the operation ends, and those
   * survivors made the young-generation collections of a 50-row page cost half as much again.
   */
  private readonly pending = new Set<(error: unknown) => void>();
  private expiredError: Error | undefined;

  /** `expired` runs at the deadline, before any pending resolver is rejected. */
  constructor(
    readonly timeoutMs: number,
    private readonly expired: () => void = () => undefined,
  ) {
    this.timer = setTimeout(() => this.expire(), timeoutMs);
    this.timer.unref();
  }

  get timedOut(): boolean {
    return this.expiredError !== undefined;
  }

  /** The promise settles as the resolver's does, or with EXECUTION_TIMEOUT at the deadline. */
  race<T>(promise: PromiseLike<T>): Promise<T> {
    if (this.expiredError) return Promise.reject(this.expiredError);
    return new Promise<T>((resolve, reject) => {
      this.pending.add(reject);
      promise.then(
        (value) => {
          this.pending.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          this.pending.delete(reject);
          reject(error);
        },
      );
    });
  }

  countElements(value: unknown): void {
    if (Array.isArray(value)) this.actualCost += value.length * OBJECT_COST;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.pending.clear();
  }

  private expire(): void {
    const error = executionTimeout(this.timeoutMs);
    this.expiredError = error;
    this.expired();
    for (const reject of this.pending) reject(error);
    this.pending.clear();
  }
}

const meters = new WeakMap<object, OperationMeter>();

/** Starts metering the operation that runs with this context (one context per operation). */
export function startMeter(
  context: object,
  timeoutMs: number,
  expired?: () => void,
): OperationMeter {
  const meter = new OperationMeter(timeoutMs, expired);
  meters.set(context, meter);
  return meter;
}

export const meterOf = (context: object): OperationMeter | undefined => meters.get(context);

/** What one call of a field's resolver costs; lists add one per element they return. */
const CALL_COST: Record<FieldCostKind, number> = {
  free: 0,
  introspection: 0,
  edges: 0,
  nodes: 0,
  object: OBJECT_COST,
  connection: OBJECT_COST,
  list: OBJECT_COST,
  mutation: MUTATION_COST,
};

type Resolver = FieldResolver<object>;

function metered(resolve: Resolver, kind: FieldCostKind): Resolver {
  const callCost = CALL_COST[kind];
  const perElement = kind === "nodes" || kind === "list";
  return (source, args, context, info) => {
    const meter = meters.get(context);
    if (!meter) return resolve(source, args, context, info);
    if (meter.timedOut) throw executionTimeout(meter.timeoutMs);
    meter.actualCost += callCost;
    const result = resolve(source, args, context, info);
    if (!isPromiseLike(result)) {
      if (perElement) meter.countElements(result);
      return result;
    }
    const counted = perElement
      ? result.then((value) => {
          meter.countElements(value);
          return value;
        })
      : result;
    return meter.race(counted);
  };
}

const instrumented = new WeakSet<GraphQLSchema>();

/**
 * Wraps the resolvers that cost something or do work (composite fields and fields with their own
 * resolver) so each operation's meter sees them. Scalar fields without a resolver stay unwrapped:
 * they cost 0 and cannot be slow (TypeGraphQL gives every field of the served schema a resolver,
 * so there that leaves only introspection). Changes the schema in place and returns it.
 */
export function instrumentSchema(schema: GraphQLSchema): GraphQLSchema {
  if (instrumented.has(schema)) return schema;
  instrumented.add(schema);
  const mutationType = schema.getMutationType();
  return wrapFieldResolvers<object>(schema, (type, field, resolve) => {
    const kind = fieldCostKind(type, field, type === mutationType);
    if (kind === "introspection") return undefined;
    if (CALL_COST[kind] === 0 && kind !== "nodes" && !field.resolve) return undefined;
    return metered(resolve, kind);
  });
}
