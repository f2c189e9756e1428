import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";

/*
 * A local OpenTelemetry collector for tests: a plain HTTP server on a random port that takes OTLP
 * trace exports (JSON, as @opentelemetry/exporter-trace-otlp-http sends them) and keeps their
 * spans. `hang` makes it a collector that accepts connections and never answers.
 */

type AnyValue = {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
};
interface KeyValue {
  key: string;
  value: AnyValue;
}

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** 1 internal, 2 server (OTLP's SpanKind numbers). */
  kind: number;
  attributes: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
  status: { code?: number };
  resource: Record<string, unknown>;
}

export interface OtlpReceiver {
  /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  /** Every export request's raw body, as received. */
  bodies: string[];
  spans: ReceivedSpan[];
  /** Resolves once a received span passes `test` (polls; rejects after `timeoutMs`). */
  waitForSpan(test: (span: ReceivedSpan) => boolean, timeoutMs?: number): Promise<ReceivedSpan>;
  close(): Promise<void>;
}

const valueOf = (value: AnyValue): unknown => {
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(valueOf);
  if (value.intValue !== undefined) return Number(value.intValue);
  return value.stringValue ?? value.doubleValue ?? value.boolValue;
};

const attributesOf = (list: KeyValue[] | undefined): Record<string, unknown> =>
  Object.fromEntries((list ?? []).map(({ key, value }) => [key, valueOf(value)]));

interface ExportRequest {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: {
      spans?: (Omit<ReceivedSpan, "attributes" | "events" | "resource"> & {
        attributes?: KeyValue[];
        events?: { name: string; attributes?: KeyValue[] }[];
      })[];
    }[];
  }[];
}

function spansOf(body: string): ReceivedSpan[] {
  const request = JSON.parse(body) as ExportRequest;
  return (request.resourceSpans ?? []).flatMap(({ resource, scopeSpans }) =>
    (scopeSpans ?? []).flatMap(({ spans }) =>
      (spans ?? []).map((span) => ({
        ...span,
        parentSpanId: span.parentSpanId || undefined,
        attributes: attributesOf(span.attributes),
        events: (span.events ?? []).map((e) => ({
          name: e.name,
          attributes: attributesOf(e.attributes),
        })),
        resource: attributesOf(resource?.attributes),
      })),
    ),
  );
}

export async function startOtlpReceiver(options: { hang?: boolean } = {}): Promise<OtlpReceiver> {
  const bodies: string[] = [];
  const spans: ReceivedSpan[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    if (options.hang) return; // never answers
    let body = "";
    request.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
    request.on("end", () => {
      bodies.push(body);
      if (request.url === "/v1/traces") spans.push(...spansOf(body));
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;

  const waitForSpan = async (test: (span: ReceivedSpan) => boolean, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = spans.find(test);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(`no such span among ${spans.map((s) => s.name).join(", ") || "none"}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    spans,
    waitForSpan,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
