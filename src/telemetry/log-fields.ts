type TraceIds = () => Record<string, string>;

let activeTraceIds: TraceIds | undefined;

/** From now on every log line names the trace and span it was written in (the SDK calls it). */
export function addTraceIdsToLogs(traceIds: TraceIds): void {
  activeTraceIds = traceIds;
}

/**
 * The logger's mixin: `trace_id` and `span_id` of the span a line is written in, so that a log
 * line leads to its trace and back. Without tracing it adds nothing and loads nothing. A new
 * object each time: pino merges the line's fields into it.
 */
export const traceLogFields = (): Record<string, string> =>
  activeTraceIds ? activeTraceIds() : {};
