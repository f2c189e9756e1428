import { timingSafeEqual, createHash } from "node:crypto";
import type {
  ApolloServerPlugin,
  GraphQLRequestContext,
  GraphQLRequestContextWillSendResponse,
  GraphQLRequestListener,
} from "@apollo/server";
import type { FastifyInstance } from "fastify";
import type { GraphQLFormattedError } from "graphql";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Readiness } from "./readiness.js";
import { ErrorCode } from "../graphql/errors.js";
import type { Context } from "../graphql/types.js";
import { sendError } from "./error-responses.js";
import { authorizationDenials } from "./denied-field.js";

/**
 * Operation names come from clients: past this many distinct names new ones are counted as
 * "other", so a caller cannot grow the metrics (and the scraper's storage) without bound.
 */
const MAX_OPERATION_NAMES = 200;

/** Prometheus metrics of one server (one registry per app, so test servers do not share). */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly operationNames = new Set<string>();

  readonly operations = new Counter({
    name: "graphql_operations_total",
    help: "GraphQL operations by name, type and outcome (success, partial, error)",
    labelNames: ["operation_name", "operation_type", "outcome"] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: "graphql_operation_duration_seconds",
    help: "Time from receiving a GraphQL operation to sending its response",
    labelNames: ["operation_name", "operation_type"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly rejections = new Counter({
    name: "graphql_rejections_total",
    help: "Requests refused without data, by error code (limits, budgets, authentication, malformed requests)",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });
  readonly cost = new Histogram({
    name: "graphql_operation_cost",
    help: "Query cost of operations (from extensions.cost), requested and actual",
    labelNames: ["kind"] as const,
    buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500],
    registers: [this.registry],
  });
  readonly denials = new Counter({
    name: "graphql_authorization_denials_total",
    help: "Fields refused (FORBIDDEN, or UNAUTHENTICATED to anonymous callers), by parent type and field",
    labelNames: ["type", "field"] as const,
    registers: [this.registry],
  });
  readonly httpResponses = new Counter({
    name: "http_responses_total",
    help: "HTTP responses by route and status code",
    labelNames: ["route", "method", "status"] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** readiness_check_ok{check}: 1 when the check passes at scrape time (Redis degraded: 0). */
  watchReadiness(readiness: Readiness): void {
    new Gauge({
      name: "readiness_check_ok",
      help: "Readiness checks at scrape time: 1 when passing, 0 when failing (see GET /readyz)",
      labelNames: ["check"] as const,
      registers: [this.registry],
      async collect() {
        const { checks } = await readiness.report();
        for (const [check, state] of Object.entries(checks)) {
          this.set({ check }, state === "ok" ? 1 : 0);
        }
      },
    });
  }

  operationLabel(name: string | null | undefined): string {
    if (!name) return "anonymous";
    if (this.operationNames.has(name)) return name;
    if (this.operationNames.size >= MAX_OPERATION_NAMES) return "other";
    this.operationNames.add(name);
    return name;
  }

  reject(code: unknown): void {
    this.rejections.inc({ code: typeof code === "string" ? code : "UNKNOWN" });
  }
}

/** success, partial (data and errors) or error (no data). */
export const outcomeOf = (data: unknown, errors: readonly GraphQLFormattedError[] | undefined) =>
  !errors?.length ? "success" : data ? "partial" : "error";

interface CostExtension {
  requestedQueryCost?: unknown;
  actualQueryCost?: unknown;
}

/**
 * Records every operation once its response is final: the operation pipeline runs it after every
 * other stage (it reads extensions.cost). The server hooks count refusals before an operation
 * exists.
 */
export function operationMetrics(metrics: ServerMetrics): {
  started: (rc: GraphQLRequestContext<Context>) => void;
  listener: GraphQLRequestListener<Context>;
  server: Pick<ApolloServerPlugin<Context>, "contextCreationDidFail" | "invalidRequestWasReceived">;
} {
  const startedAt = new WeakMap<object, bigint>();
  const record = (ctx: GraphQLRequestContextWillSendResponse<Context>) => {
    const started = startedAt.get(ctx);
    if (ctx.response.body.kind !== "single") return;
    const { data, errors, extensions } = ctx.response.body.singleResult;
    const name = metrics.operationLabel(ctx.operation ? ctx.operationName : undefined);
    const type = ctx.operation?.operation ?? "unknown";
    metrics.operations.inc({
      operation_name: name,
      operation_type: type,
      outcome: outcomeOf(data, errors),
    });
    if (started !== undefined) {
      metrics.duration.observe(
        { operation_name: name, operation_type: type },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    }
    if (errors?.length && !data) {
      for (const code of new Set(errors.map((e) => e.extensions?.code))) metrics.reject(code);
    }
    const denials = authorizationDenials(ctx.schema, ctx.document, ctx.operation, errors);
    for (const { type, field } of denials) metrics.denials.inc({ type, field });
    const cost = extensions?.cost as CostExtension | undefined;
    if (typeof cost?.requestedQueryCost === "number") {
      metrics.cost.observe({ kind: "requested" }, cost.requestedQueryCost);
    }
    if (typeof cost?.actualQueryCost === "number") {
      metrics.cost.observe({ kind: "actual" }, cost.actualQueryCost);
    }
  };
  return {
    // Apollo hands every hook of an operation the same request context: the start is kept on it.
    started: (rc) => void startedAt.set(rc, process.hrtime.bigint()),
    listener: { willSendResponse: (ctx) => Promise.resolve(record(ctx)) },
    server: {
      // Refusals before an operation exists: a bad token, a CSRF-suspect or malformed request.
      contextCreationDidFail: ({ error }) =>
        Promise.resolve(
          metrics.reject((error as { extensions?: { code?: unknown } }).extensions?.code),
        ),
      invalidRequestWasReceived: () => Promise.resolve(metrics.reject(ErrorCode.BAD_REQUEST)),
    },
  };
}

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * GET /metrics. With METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>` may read it
 * (Prometheus' `authorization` scrape setting). Without it the endpoint is open outside
 * production and absent in production: operation names and error rates are not public data.
 */
export function registerMetricsRoute(
  server: FastifyInstance,
  metrics: ServerMetrics,
  options: { token: string | undefined; production: boolean },
): void {
  server.addHook("onResponse", async (request, reply) => {
    metrics.httpResponses.inc({
      route: request.routeOptions.url ?? "unmatched",
      method: request.method,
      status: String(reply.statusCode),
    });
  });
  if (!options.token && options.production) return;
  const expected = options.token ? digest(`Bearer ${options.token}`) : undefined;
  server.get("/metrics", async (request, reply) => {
    if (expected) {
      const given = digest(request.headers.authorization ?? "");
      if (!timingSafeEqual(given, expected)) {
        return sendError(reply, 401, "A metrics token is required", ErrorCode.UNAUTHENTICATED, {
          "www-authenticate": 'Bearer realm="metrics"',
        });
      }
    }
    void reply.header("content-type", metrics.registry.contentType);
    void reply.header("cache-control", "no-store");
    return metrics.registry.metrics();
  });
}
