import type { GraphQLRequestContextWillSendResponse } from "@apollo/server";
import {
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import { ErrorCode } from "../graphql/errors.js";
import type { OperationPipeline } from "../graphql/pipeline/index.js";
import type { Stage } from "../graphql/pipeline/stage.js";
import type { Context } from "../graphql/types.js";
import { authorizationDenials } from "../http/denied-field.js";
import { outcomeOf } from "../http/metrics.js";

/*
 * One span per GraphQL operation (each operation of a batch has its own), a child of the HTTP
 * request's span: its type and name, outcome, error codes, cost, and one event per field that
 * authorization refused, by schema coordinate (`Customer.taxId`). Never the document, the
 * variables or any value: a span goes to another system, with other people reading it.
 */

const operationSpans = new WeakSet<Span>();

/** The span of the operation running now (the hooks run in its context). */
function currentOperationSpan(): Span | undefined {
  const span = trace.getSpan(context.active());
  return span && operationSpans.has(span) ? span : undefined;
}

/** The pipeline, each operation run inside a span of its own. */
export function traceOperations(pipeline: OperationPipeline, tracer: Tracer): OperationPipeline {
  return {
    admitRequest: (request, operations) => pipeline.admitRequest(request, operations),
    runOperation: (request, operation, execute) =>
      tracer.startActiveSpan("GraphQL Operation", { kind: SpanKind.INTERNAL }, async (span) => {
        operationSpans.add(span);
        try {
          const response = await pipeline.runOperation(request, operation, execute);
          if ((response.status ?? 200) >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          return response;
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR });
          throw error;
        } finally {
          span.end();
        }
      }),
  };
}

/** Codes that say the server failed (the span's status is then an error), not the caller. */
const SERVER_FAULTS = new Set<unknown>([
  ErrorCode.INTERNAL_SERVER_ERROR,
  ErrorCode.SERVICE_UNAVAILABLE,
]);

function describeFailure(span: Span, codes: string[]): void {
  if (codes.length > 0) span.setAttribute("graphql.error.codes", codes);
  if (codes.some((code) => SERVER_FAULTS.has(code))) {
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
}

function describeOperation(span: Span, rc: GraphQLRequestContextWillSendResponse<Context>): void {
  if (rc.response.body.kind !== "single") return;
  const { data, errors, extensions } = rc.response.body.singleResult;
  const type = rc.operation?.operation;
  const name = rc.operation ? rc.operationName : undefined;
  if (type) {
    span.setAttribute("graphql.operation.type", type);
    span.updateName(name ? `${type} ${name}` : type);
  }
  if (name) span.setAttribute("graphql.operation.name", name);
  span.setAttribute("graphql.operation.outcome", outcomeOf(data, errors));
  const codes = new Set<string>();
  for (const error of errors ?? []) {
    const code = error.extensions?.code;
    if (typeof code === "string") codes.add(code);
  }
  describeFailure(span, [...codes]);
  const cost = extensions?.cost as { requestedQueryCost?: unknown; actualQueryCost?: unknown };
  if (typeof cost?.requestedQueryCost === "number") {
    span.setAttribute("graphql.operation.cost.requested", cost.requestedQueryCost);
  }
  if (typeof cost?.actualQueryCost === "number") {
    span.setAttribute("graphql.operation.cost.actual", cost.actualQueryCost);
  }
  // One event per refused field, however many rows it was refused on.
  const denied = new Map<string, { code: string; count: number }>();
  for (const { type: owner, field, code } of authorizationDenials(
    rc.schema,
    rc.document,
    rc.operation,
    errors,
  )) {
    const coordinate = `${owner}.${field}`;
    const seen = denied.get(coordinate);
    if (seen) seen.count += 1;
    else denied.set(coordinate, { code, count: 1 });
  }
  for (const [coordinate, { code, count }] of denied) {
    span.addEvent("graphql.authorization.denied", {
      "graphql.field.coordinate": coordinate,
      "graphql.error.code": code,
      "graphql.denial.count": count,
    });
  }
}

function describeRefusal(code: string | undefined): void {
  const span = currentOperationSpan();
  if (!span) return;
  span.setAttribute("graphql.operation.outcome", "error");
  describeFailure(span, code ? [code] : []);
}

const codeOf = (error: unknown): unknown =>
  (error as { extensions?: { code?: unknown } } | undefined)?.extensions?.code;

/**
 * The pipeline stage that describes the operation's span: last, once the response is final (the
 * cost is in its extensions). Refusals before Apollo has an operation (a bad token, a budget
 * spent, a malformed request) are described by the server hooks.
 */
export const operationSpanStage: Stage = {
  listener: {
    willSendResponse: (rc) => {
      const span = currentOperationSpan();
      if (span) describeOperation(span, rc);
      return Promise.resolve();
    },
  },
  server: {
    contextCreationDidFail: ({ error }) => {
      const code = codeOf(error);
      describeRefusal(typeof code === "string" ? code : undefined);
      return Promise.resolve();
    },
    invalidRequestWasReceived: () => {
      describeRefusal(ErrorCode.BAD_REQUEST);
      return Promise.resolve();
    },
  },
};
