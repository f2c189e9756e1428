import {
  type ASTNode,
  type DocumentNode,
  getNamedType,
  type GraphQLInputType,
  type GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  Kind,
  type OperationDefinitionNode,
  typeFromAST,
  visit,
} from "graphql";
import { fromGlobalId } from "../../graphql/ids.js";
import { REDACTED, SENSITIVE_NAMES, TOO_DEEP } from "../sensitive-data.js";
import { canonicalJson, nestedDeeperThan } from "./event.js";
import type { TextContext, TextFingerprint } from "./text-fingerprint.js";

/*
 * What the audit log keeps of an operation's variables, by the schema's type of each value:
 * numbers, booleans, enum values and well-formed ids as sent (they name things, they say
 * nothing about a person); secrets and personal data (by the argument or input field they flow
 * into) as "[redacted]"; every other text as its length and keyed fingerprint; and whatever the
 * operation does not declare (variables, input fields) as one fingerprint under "[undeclared]".
 */

/**
 * Deeper input than any of the schema's (a few levels) is not kept, only marked: a client's
 * 5,000-deep array must not exhaust the stack of whoever records it.
 */
const MAX_KEPT_DEPTH = 16;
export const UNDECLARED = "[undeclared]";

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

/**
 * For each variable of the operation (and the fragments it may use): the argument or input
 * field it is first passed to, and whether any of them is sensitive.
 */
function variableUses(document: DocumentNode, operation: OperationDefinitionNode) {
  const sensitive = new Set<string>();
  const firstUse = new Map<string, string>();
  const definitions = [
    operation,
    ...document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION),
  ];
  for (const definition of definitions) {
    visit(definition, {
      Variable(node, _key, parent, _path, ancestors) {
        const name = usageName(parent, ancestors);
        if (name === undefined) return; // the variable's own definition
        if (!firstUse.has(node.name.value)) firstUse.set(node.name.value, name);
        if (SENSITIVE_NAMES.has(name)) sensitive.add(node.name.value);
      },
    });
  }
  return { sensitive, firstUse };
}

export class VariableDescriber {
  constructor(
    private readonly schema: GraphQLSchema | undefined,
    private readonly fingerprint: TextFingerprint,
  ) {}

  describe(
    document: DocumentNode | undefined,
    operation: OperationDefinitionNode | undefined,
    variables: unknown,
    orgId: string | null,
  ): Record<string, unknown> | null {
    if (variables === null || typeof variables !== "object" || Array.isArray(variables)) {
      return null;
    }
    const declared = new Map<string, GraphQLInputType | undefined>();
    for (const definition of operation?.variableDefinitions ?? []) {
      const type = this.schema
        ? (typeFromAST(this.schema, definition.type) as GraphQLInputType | undefined)
        : undefined;
      declared.set(definition.variable.name.value, type);
    }
    const { sensitive, firstUse } =
      document && operation
        ? variableUses(document, operation)
        : { sensitive: new Set<string>(), firstUse: new Map<string, string>() };
    const described: Record<string, unknown> = {};
    const undeclared: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(variables as Record<string, unknown>)) {
      if (!declared.has(name)) undeclared[name] = value;
      else if (value === null) described[name] = null;
      else if (sensitive.has(name)) described[name] = REDACTED;
      else {
        const field = firstUse.get(name) ?? `$${name}`;
        described[name] = this.value(value, declared.get(name), 0, { orgId, field });
      }
    }
    if (Object.keys(undeclared).length > 0) {
      described[UNDECLARED] = this.opaque(undeclared, { orgId, field: UNDECLARED });
    }
    return described;
  }

  /** Anything whose meaning is not known, fingerprinted whole (or marked, when too deep to). */
  private opaque(value: unknown, context: TextContext): string {
    if (typeof value === "string") return this.fingerprint.of(value, context);
    return nestedDeeperThan(value, MAX_KEPT_DEPTH)
      ? TOO_DEEP
      : this.fingerprint.of(canonicalJson(value), context);
  }

  private value(
    value: unknown,
    type: GraphQLInputType | undefined,
    depth: number,
    context: TextContext,
  ): unknown {
    if (value === null || value === undefined) return null;
    if (depth >= MAX_KEPT_DEPTH) return TOO_DEEP;
    if (!type) return this.opaque(value, context);
    if (isNonNullType(type)) return this.value(value, type.ofType, depth, context);
    if (isListType(type)) {
      return Array.isArray(value)
        ? value.map((item) => this.value(item, type.ofType, depth + 1, context))
        : this.value(value, type.ofType, depth, context); // a single value: a list of one
    }
    if (isInputObjectType(type)) {
      if (typeof value !== "object" || Array.isArray(value)) return this.opaque(value, context);
      const fields = type.getFields();
      const kept: Record<string, unknown> = {};
      const undeclared: Record<string, unknown> = {};
      for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
        const field = fields[key];
        if (!field) undeclared[key] = inner;
        else if (SENSITIVE_NAMES.has(key) && inner !== null) kept[key] = REDACTED;
        else kept[key] = this.value(inner, field.type, depth + 1, { ...context, field: key });
      }
      if (Object.keys(undeclared).length > 0) {
        kept[UNDECLARED] = this.opaque(undeclared, { ...context, field: UNDECLARED });
      }
      return kept;
    }
    return this.leaf(value, type, context);
  }

  private leaf(value: unknown, type: GraphQLInputType, context: TextContext): unknown {
    const named = getNamedType(type);
    if (isEnumType(named)) {
      return typeof value === "string" && named.getValue(value)
        ? value
        : this.opaque(value, context);
    }
    if (isScalarType(named)) {
      switch (named.name) {
        case "Int":
        case "Float":
          return typeof value === "number" ? value : this.opaque(value, context);
        case "Boolean":
          return typeof value === "boolean" ? value : this.opaque(value, context);
        case "ID":
          return (typeof value === "string" && fromGlobalId(value)) || typeof value === "number"
            ? value
            : this.opaque(value, context);
      }
    }
    return this.opaque(value, context); // String and every other scalar: free text
  }
}
