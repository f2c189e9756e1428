import { hash } from "node:crypto";
import {
  type DocumentNode,
  getOperationAST,
  Kind,
  type OperationDefinitionNode,
  parse,
  print,
  visit,
} from "graphql";
import type { VariableDescriber } from "./describe-variables.js";

/** What the audit log keeps of an operation's request: never the document, never a secret. */
export interface OperationDescription {
  operationType: string | null;
  operationName: string | null;
  documentHash: string | null;
  variables: Record<string, unknown> | null;
}

export interface OperationRequest {
  query?: unknown;
  operationName?: unknown;
  variables?: unknown;
  /** The document the server parsed; null when it failed to parse (not parsed again here). */
  document?: DocumentNode | null | undefined;
  /** SHA-256 (hex) of `query` when the server has already computed it (Apollo's queryHash). */
  queryHash?: string | undefined;
}

const MAX_NAME_LENGTH = 200;
/** Variables larger than this (as described) are stored as a size only. */
const MAX_VARIABLES_BYTES = 16_384;

const SURROGATE = /[\ud800-\udfff]/;

/** Text safe for a PostgreSQL text/jsonb value: no NUL, no lone UTF-16 surrogate. */
export function storableText(text: string, maxLength = Number.MAX_SAFE_INTEGER): string {
  const kept = text.length > maxLength ? text.slice(0, maxLength) : text;
  if (!kept.includes("\u0000") && !SURROGATE.test(kept)) return kept; // the usual case: no copies
  return kept
    .replaceAll("\u0000", "")
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

function storableJson(value: unknown): unknown {
  if (typeof value === "string") return storableText(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [storableText(key), storableJson(inner)]),
    );
  }
  return value;
}

export const sha256Hex = (text: string): string => hash("sha256", text, "hex");

/**
 * The document's fingerprint: SHA-256 of the document printed with every literal value blanked
 * (strings "", numbers 0, enum values _, lists [], objects {}), as Apollo's operation signatures do. The same
 * operation with other inline values has the same fingerprint, and an inline password or tax id
 * cannot be tested against it offline.
 */
export function documentFingerprint(document: DocumentNode): string {
  const blanked = visit(document, {
    StringValue: (node) => ({ ...node, value: "", block: false }),
    IntValue: (node) => ({ ...node, value: "0" }),
    FloatValue: (node) => ({ ...node, kind: Kind.INT, value: "0" }),
    ListValue: (node) => ({ ...node, values: [] }),
    ObjectValue: (node) => ({ ...node, fields: [] }),
    // a bare name sent where a string belongs is an enum value to the parser: blanked too
    EnumValue: (node) => ({ ...node, value: "_" }),
  });
  return sha256Hex(print(blanked));
}

const FINGERPRINT_CACHE_SIZE = 2_000;

export interface DescribeOptions {
  /** The organization whose event it is: free text is fingerprinted with its key. */
  orgId: string | null;
  /** False when the variables could not be described: the event is stored without them. */
  withVariables?: boolean;
}

/** Describes operations for the audit log: what it keeps of each (see OperationDescription). */
export class OperationDescriber {
  /** Fingerprints by the SHA-256 of the document text: a document is blanked once. */
  private readonly fingerprints = new Map<string, string>();

  constructor(
    private readonly variables: VariableDescriber,
    private readonly maxTokens: number,
  ) {}

  /** Describes a request, parsing it here only when the server has not (e.g. a 401). */
  describe(request: OperationRequest, options: DescribeOptions) {
    const query = typeof request.query === "string" ? request.query : undefined;
    let document = request.document ?? undefined;
    if (request.document === undefined && query !== undefined) {
      try {
        document = parse(query, { noLocation: true, maxTokens: this.maxTokens });
      } catch {
        document = undefined;
      }
    }
    const requestedName =
      typeof request.operationName === "string" ? request.operationName : undefined;
    let operation: OperationDefinitionNode | undefined;
    try {
      operation = document ? (getOperationAST(document, requestedName) ?? undefined) : undefined;
    } catch {
      operation = undefined;
    }
    const name = operation?.name?.value ?? requestedName;
    return {
      operationType: operation?.operation ?? null,
      operationName: name === undefined ? null : storableText(name, MAX_NAME_LENGTH),
      documentHash:
        document && query !== undefined
          ? this.fingerprint(query, document, request.queryHash)
          : null,
      variables:
        options.withVariables === false
          ? null
          : storableVariables(
              this.variables.describe(document, operation, request.variables, options.orgId),
            ),
    } satisfies OperationDescription;
  }

  private fingerprint(query: string, document: DocumentNode, queryHash: string | undefined) {
    const key = queryHash ?? sha256Hex(query);
    let fingerprint = this.fingerprints.get(key);
    if (fingerprint === undefined) {
      fingerprint = documentFingerprint(document);
      if (this.fingerprints.size >= FINGERPRINT_CACHE_SIZE) this.fingerprints.clear();
      this.fingerprints.set(key, fingerprint);
    }
    return fingerprint;
  }
}

/** Variables as jsonb will hold them, or only their size when larger than kept. */
function storableVariables(described: Record<string, unknown> | null) {
  if (described === null) return null;
  const storable = storableJson(described) as Record<string, unknown>;
  const size = Buffer.byteLength(JSON.stringify(storable));
  return size > MAX_VARIABLES_BYTES ? { "[truncated]": `${size} bytes` } : storable;
}
