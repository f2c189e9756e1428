import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { FastifyInstance } from "fastify";

/*
 * One server span per HTTP request, named "<method> <route>" (OpenTelemetry's HTTP conventions),
 * with a valid W3C `traceparent` header as its parent. The span is started before Fastify sees
 * the request and is the active context of everything the request does, its log lines included
 * (Fastify carries the context on across a body that arrives in pieces: the tests check it).
 * Never the query string (a GET's query and variables), headers, addresses or bodies.
 */

const spans = new WeakMap<IncomingMessage, Span>();

function startSpan(tracer: Tracer, request: IncomingMessage, tls: boolean, parent: Context): Span {
  const method = request.method ?? "_OTHER";
  const path = (request.url ?? "/").split("?", 1)[0]!;
  return tracer.startSpan(
    method,
    {
      kind: SpanKind.SERVER,
      attributes: {
        "http.request.method": method,
        "url.path": path,
        "url.scheme": tls ? "https" : "http",
        "network.protocol.version": request.httpVersion,
      },
    },
    parent,
  );
}

function endSpan(span: Span, response: ServerResponse): void {
  const status = response.statusCode;
  span.setAttribute("http.response.status_code", status);
  if (status >= 500) {
    span.setAttribute("error.type", String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  } else if (!response.writableFinished) {
    span.setAttribute("error.type", "aborted"); // the client went away before the response ended
  }
  span.end();
}

export function traceHttpRequests(server: FastifyInstance, tracer: Tracer, tls: boolean): void {
  const node = server.server;
  const handlers = node.listeners("request") as RequestListener[];
  node.removeAllListeners("request");
  node.on("request", (request: IncomingMessage, response: ServerResponse) => {
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const span = startSpan(tracer, request, tls, parent);
    spans.set(request, span);
    const active = trace.setSpan(parent, span);
    response.once("close", () => endSpan(span, response));
    context.with(active, () => {
      for (const handler of handlers) handler.call(node, request, response);
    });
  });
  server.addHook("onRequest", (request, _reply, done) => {
    const span = spans.get(request.raw);
    const route = request.routeOptions.url;
    if (span && route !== undefined) {
      span.setAttribute("http.route", route);
      span.updateName(`${request.method} ${route}`);
    }
    done();
  });
}
