/*
 * The operations of one HTTP request as Apollo will read them: an operation that names a trusted
 * document by `documentId` (POST body, or GET parameter) gets the document's text as its `query`.
 * Automatic persisted queries (`extensions.persistedQuery`) stay off: Apollo refuses them.
 */
import { ErrorCode } from "../errors.js";
import type { Refusal } from "../pipeline/admit.js";
import type { TrustedDocuments } from "./store.js";

export interface SentOperation {
  /** The POST body or batch element; for a GET, undefined unless it named a trusted document. */
  body: unknown;
  /** The request's search string (Apollo reads a GET's operation from it). */
  search: string;
  /**
   * It sends document text of its own rather than a trusted document's id (one that sends
   * neither is left to Apollo, which refuses it or, in development, serves the Sandbox page).
   */
  ownDocument: boolean;
}

export interface SentRequest {
  /** One for a single operation; a batch's, in order. */
  operations: SentOperation[];
  /** The request is a batch (a JSON array), of these operations. */
  batch: unknown[] | undefined;
  /** The refusal of an operation's document id, if one was refused. */
  refusal: Refusal | undefined;
}

const badDocumentId = (code: ErrorCode, message: string): Refusal => ({
  status: 400,
  message,
  code,
});

type Resolved = { operation: Record<string, unknown>; trusted: boolean } | Refusal;

/** The operation with its trusted document in `query`, or its refusal. */
function resolveDocumentId(
  operation: Record<string, unknown>,
  documents: TrustedDocuments | undefined,
): Resolved {
  const { documentId, ...rest } = operation;
  if (documentId === undefined) return { operation, trusted: false };
  if (!documents) {
    return badDocumentId(
      ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
      "This server takes no document ids (trusted documents are off): send the document as query",
    );
  }
  if (rest.query !== undefined) {
    return badDocumentId(ErrorCode.BAD_REQUEST, "Send either query or documentId, not both");
  }
  if (typeof documentId !== "string") {
    return badDocumentId(ErrorCode.BAD_REQUEST, "documentId must be a string");
  }
  const trusted = documents.get(documentId);
  if (!trusted) {
    return badDocumentId(
      ErrorCode.PERSISTED_QUERY_NOT_FOUND,
      "No trusted document has this documentId (is the app newer than the server's manifests?)",
    );
  }
  return { operation: { ...rest, query: trusted.source }, trusted: true };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

function fromPost(body: unknown, documents: TrustedDocuments | undefined): Resolved {
  if (!isRecord(body)) return { operation: {}, trusted: false }; // Apollo refuses it
  return resolveDocumentId(body, documents);
}

/** A GET's parameters; one naming a document id is turned into the usual `query` parameter. */
function fromGet(search: string, documents: TrustedDocuments | undefined): SentOperation | Refusal {
  const params = new URLSearchParams(search);
  const ids = params.getAll("documentId");
  if (ids.length === 0) return { body: undefined, search, ownDocument: params.has("query") };
  if (ids.length > 1) {
    return badDocumentId(ErrorCode.BAD_REQUEST, "documentId may be given only once");
  }
  const resolved = resolveDocumentId(
    { documentId: ids[0], query: params.get("query") ?? undefined },
    documents,
  );
  if ("status" in resolved) return resolved;
  params.delete("documentId");
  params.set("query", resolved.operation.query as string);
  const variables = params.get("variables");
  let parsedVariables: unknown;
  try {
    parsedVariables = variables === null ? undefined : JSON.parse(variables);
  } catch {
    parsedVariables = undefined; // Apollo refuses the parameter
  }
  return {
    // what the audit log describes should the operation be refused before Apollo reads it
    body: {
      query: resolved.operation.query,
      operationName: params.get("operationName") ?? undefined,
      variables: parsedVariables,
    },
    search: `?${params.toString()}`,
    ownDocument: false,
  };
}

/** Reads the request's operations, resolving document ids against the trusted documents. */
export function sentRequest(
  request: { method: string; body: unknown; url: string },
  documents: TrustedDocuments | undefined,
): SentRequest {
  const search = new URL(request.url, "http://localhost/").search;
  if (request.method === "GET") {
    const sent = fromGet(search, documents);
    return "status" in sent
      ? { operations: [], batch: undefined, refusal: sent }
      : { operations: [sent], batch: undefined, refusal: undefined };
  }
  const batch = Array.isArray(request.body) ? (request.body as unknown[]) : undefined;
  const operations: SentOperation[] = [];
  for (const body of batch ?? [request.body]) {
    const resolved = fromPost(body, documents);
    if ("status" in resolved) return { operations: [], batch, refusal: resolved };
    operations.push({
      body: resolved.trusted ? resolved.operation : body,
      search,
      ownDocument: !resolved.trusted && resolved.operation.query !== undefined,
    });
  }
  return { operations, batch, refusal: undefined };
}
