import type { FastifyRequest } from "fastify";
import type { GraphQLSchema } from "graphql";
import type { Logger } from "pino";
import type { Database } from "../../db/client.js";
import type { AuditEventRow } from "../../db/schema.js";
import { AuditBuffer, type AuditBufferStatus } from "./buffer.js";
import { Checkpointer } from "./checkpoint.js";
import {
  type DescribeOptions,
  OperationDescriber,
  type OperationDescription,
  type OperationRequest,
} from "./describe-operation.js";
import { VariableDescriber } from "./describe-variables.js";
import { type AuditEventDraft, logFieldsOf } from "./event.js";
import { type AuditSink, OperationAudit } from "./operation-audit.js";
import type { Signer } from "./signing.js";
import { TextFingerprint } from "./text-fingerprint.js";

export interface AuditLogOptions {
  database: Database;
  logger: Logger;
  bufferSize: number;
  flushMs: number;
  /** How long an operation waits for its event to be stored before it answers 503. */
  durableWaitMs: number;
  /** How long close() retries the events still queued at shutdown. */
  shutdownFlushMs: number;
  /** Token limit used when the audit log parses a document Apollo did not (a 401). */
  maxTokens: number;
  /** The schema the operations run on: variables are described by their types. */
  schema: GraphQLSchema;
  /** The secret free text is fingerprinted with (BLIND_INDEX_KEY; a key is derived from it). */
  fingerprintSecret: Buffer;
  /** Signs the checkpoints, written every `checkpointSeconds` for the chains that moved. */
  signer: Signer;
  checkpointSeconds: number;
}

/** The operation as sent: a POST body (or batch element), or the parameters of a GET. */
function sentOperation(request: FastifyRequest, operation: unknown): OperationRequest {
  if (operation !== null && typeof operation === "object" && !Array.isArray(operation)) {
    return operation;
  }
  if (request.method !== "GET") return {};
  const params = (request.query ?? {}) as Record<string, unknown>;
  let variables: unknown = params.variables;
  if (typeof variables === "string") {
    try {
      variables = JSON.parse(variables);
    } catch {
      variables = undefined;
    }
  }
  return { query: params.query, operationName: params.operationName, variables };
}

/**
 * The audit log: one event per GraphQL operation, chained and append-only. Query events go
 * through a bounded write-behind buffer; mutation events commit with the mutation. A copy of
 * every stored event (no variables, no user agent) goes to the structured log.
 */
export class AuditLog implements AuditSink {
  private readonly describer: OperationDescriber;
  private readonly buffer: AuditBuffer;
  private readonly logger: Logger;
  private readonly checkpointer: Checkpointer;

  constructor(options: AuditLogOptions) {
    this.describer = new OperationDescriber(
      new VariableDescriber(options.schema, new TextFingerprint(options.fingerprintSecret)),
      options.maxTokens,
    );
    this.logger = options.logger.child({ component: "audit" });
    this.buffer = new AuditBuffer(options.database, this.logger, {
      capacity: options.bufferSize,
      flushMs: options.flushMs,
      durableWaitMs: options.durableWaitMs,
      shutdownFlushMs: options.shutdownFlushMs,
      onWritten: (rows) => this.written(rows),
    });
    this.checkpointer = new Checkpointer(
      options.database,
      options.signer,
      this.logger,
      options.checkpointSeconds * 1000,
    );
    this.checkpointer.start();
  }

  /**
   * Admits `operations` operations, or refuses them all when the buffer cannot hold their
   * events (the database has been unreachable for a while): no operation runs unaudited.
   */
  admit(operations: number): boolean {
    const admitted = this.buffer.tryReserve(operations);
    if (!admitted) {
      this.logger.warn(this.buffer.status(), "operation refused: the audit buffer is full");
    }
    return admitted;
  }

  /** The audit record of one admitted operation. */
  begin(request: FastifyRequest, operation: unknown): OperationAudit {
    return new OperationAudit(
      this,
      { requestId: request.id, ip: request.ip, userAgent: request.headers["user-agent"] },
      sentOperation(request, operation),
    );
  }

  describe(request: OperationRequest, options: DescribeOptions): OperationDescription {
    return this.describer.describe(request, options);
  }

  enqueue(draft: AuditEventDraft): Promise<boolean> {
    return this.buffer.push(draft);
  }

  mutationCommitted(row: AuditEventRow): void {
    this.buffer.sawStored([row]); // the buffer's next batch of this chain links after it
    this.buffer.release();
    this.written([row]);
  }

  /** Every stored event, the buffer's and the mutations': to checkpoint, and to the log. */
  private written(rows: AuditEventRow[]): void {
    for (const row of rows) this.checkpointer.wrote(row.chainId);
    if (!this.logger.isLevelEnabled("info")) return; // LOG_LEVEL above info: build no copies
    for (const row of rows) this.logger.info({ audit: logFieldsOf(row) }, "audit event");
  }

  /** The variables of an operation could not be described: its event is stored without them. */
  describeFailed(error: unknown): void {
    this.logger.error({ err: error }, "audit event stored without its variables");
  }

  mutationAuditFailed(error: unknown, draft: AuditEventDraft): void {
    this.logger.error(
      { err: error, eventId: draft.id, requestId: draft.requestId },
      "mutation rolled back: its audit event could not be written",
    );
  }

  status(): AuditBufferStatus & { full: boolean } {
    return { ...this.buffer.status(), full: this.buffer.full };
  }

  /** Writes the events buffered so far (tests and shutdown). */
  flush(): Promise<void> {
    return this.buffer.flush();
  }

  /** Writes the buffered events, then a checkpoint of every chain that moved (operators, tests). */
  async checkpoint(): Promise<void> {
    await this.buffer.flush();
    await this.checkpointer.run();
  }

  /**
   * After the server stopped taking requests: writes everything still buffered, then checkpoints
   * the chains this instance wrote to. Resolves false when events could not be stored (they are
   * in the log only).
   */
  async close(): Promise<boolean> {
    const complete = await this.buffer.close();
    await this.checkpointer.close();
    return complete;
  }
}
