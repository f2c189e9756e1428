import { createHash } from "node:crypto";
import {
  type ASTNode,
  type DocumentNode,
  getOperationAST,
  Kind,
  type OperationDefinitionNode,
  parse,
  visit,
} from "graphql";
import { REDACTED, redactInputObject, SENSITIVE_NAMES } from "../sensitive-data.js";

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
/** Variables larger than this (after redaction) are stored as a size only. */
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

/** The argument or input-object field a variable is passed to: its nearest such enclosing node. */
function usageName(
  parent: ASTNode | readonly ASTNode[] | undefined,
  ancestors: readonly (ASTNode | readonly ASTNode[])[],
): string | undefined {
  const enclosing = parent === undefined ? ancestors : [...ancestors, parent];
  for (let i = enclosing.length - 1; i >= 0; i--) {
    const node = enclosing[i]!;
    if ("kind" in node && (node.kind === Kind.ARGUMENT || node.kind === Kind.OBJECT_FIELD)) {
      return node.name.value;
    }
  }
  return undefined;
}

/** For each variable of the operation (and the fragments it may use): is any use sensitive? */
function variableUses(document: DocumentNode, operation: OperationDefinitionNode) {
  const sensitive = new Map<string, boolean>();
  const definitions = [
    operation,
    ...document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION),
  ];
  for (const definition of definitions) {
    visit(definition, {
      Variable(node, _key, parent, _path, ancestors) {
        const name = usageName(parent, ancestors);
        if (name === undefined) return; // the variable's own definition
        const previous = sensitive.get(node.name.value) ?? false;
        sensitive.set(node.name.value, previous || SENSITIVE_NAMES.has(name));
      },
    });
  }
  return sensitive;
}

/**
 * Variables with secrets and personal data redacted. Top-level variable names are chosen by the
 * client, so a variable is judged by the argument or input field it flows into; input objects
 * by their field names. A variable with no known use (or no parsable document) is redacted.
 */
export function redactVariables(
  document: DocumentNode | undefined,
  operation: OperationDefinitionNode | undefined,
  variables: unknown,
): Record<string, unknown> | null {
  if (variables === null || typeof variables !== "object" || Array.isArray(variables)) return null;
  const uses =
    document && operation ? variableUses(document, operation) : new Map<string, boolean>();
  const redacted = Object.fromEntries(
    Object.entries(variables as Record<string, unknown>).map(([name, value]) => {
      const sensitive: boolean | undefined = uses.get(name);
      if (value === null) return [name, null];
      return [name, sensitive === false ? redactInputObject(value) : REDACTED];
    }),
  );
  const plain = JSON.parse(JSON.stringify(redacted)) as unknown; // what jsonb will hold
  const storable = storableJson(plain) as Record<string, unknown>;
  const size = Buffer.byteLength(JSON.stringify(storable));
  return size > MAX_VARIABLES_BYTES ? { "[truncated]": `${size} bytes` } : storable;
}

export const sha256Hex = (text: string): string => createHash("sha256").update(text).digest("hex");

/** Describes a request, parsing it here only when the server has not (e.g. a 401 before Apollo). */
export function describeOperation(
  request: OperationRequest,
  maxTokens: number,
): OperationDescription {
  const query = typeof request.query === "string" ? request.query : undefined;
  let document = request.document ?? undefined;
  if (request.document === undefined && query !== undefined) {
    try {
      document = parse(query, { noLocation: true, maxTokens });
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
    documentHash: query === undefined ? null : (request.queryHash ?? sha256Hex(query)),
    variables: redactVariables(document, operation, request.variables),
  };
}
