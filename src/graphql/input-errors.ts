/*
 * The messages of errors about input values, written from the structure of the input: the
 * variable's name, the path of schema fields and list indices inside it, and the type expected
 * there. graphql-js and the scalars quote the rejected value ("Value is not string: …", "Value
 * "jane@…" does not exist in "Role" enum", "found "1980-13-45""), and an input may be personal
 * data or a secret; no part of their messages is passed on, so no part of a value can reach a
 * client or a log, whatever the scalar, the wrong type or the nesting.
 */
import {
  type ASTNode,
  coerceInputValue,
  type DocumentNode,
  type GraphQLError,
  type GraphQLInputType,
  type GraphQLSchema,
  getNullableType,
  isInputObjectType,
  isListType,
  isNonNullType,
  Kind,
  type OperationDefinitionNode,
  print,
  TypeInfo,
  typeFromAST,
  type VariableDefinitionNode,
  visit,
  visitWithTypeInfo,
} from "graphql";
import { ErrorCode } from "./errors.js";

export interface InputContext {
  schema: GraphQLSchema;
  document?: DocumentNode | undefined;
  operation?: OperationDefinitionNode | undefined;
  variables?: Record<string, unknown> | undefined;
}

/** A problem with one variable's value: where in it, and what was expected there. */
interface Problem {
  path: readonly (string | number)[];
  expected: string;
  /** The variable is required and was not given (or was null). */
  missing?: boolean;
}

const VALUE_KINDS: ReadonlySet<string> = new Set([
  Kind.INT,
  Kind.FLOAT,
  Kind.STRING,
  Kind.BOOLEAN,
  Kind.NULL,
  Kind.ENUM,
  Kind.LIST,
  Kind.OBJECT,
  Kind.OBJECT_FIELD,
]);

/** The type expected at a path inside a value of `type` (the last known type on the way). */
function typeAt(type: GraphQLInputType, path: readonly (string | number)[]): GraphQLInputType {
  let current = type;
  for (const step of path) {
    const nullable = getNullableType(current);
    if (typeof step === "number" && isListType(nullable)) current = nullable.ofType;
    else if (typeof step === "string" && isInputObjectType(nullable)) {
      const field = nullable.getFields()[step];
      if (!field) return current;
      current = field.type;
    } else return current;
  }
  return current;
}

/** The value at a path inside a variable's value (undefined where the path leads nowhere). */
function valueAt(value: unknown, path: readonly (string | number)[]): unknown {
  let current = value;
  for (const step of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string | number, unknown>)[step];
  }
  return current;
}

/**
 * What is wrong with an object against its input type, in the schema's words: the required
 * fields it lacks, and how many fields the type does not have (never their names: a key is part
 * of the value).
 */
function objectDetail(type: GraphQLInputType, value: unknown): string {
  const nullable = getNullableType(type);
  if (!isInputObjectType(nullable) || typeof value !== "object" || value === null) return "";
  if (Array.isArray(value)) return "";
  const fields = nullable.getFields();
  const given = value as Record<string, unknown>;
  const missing = Object.values(fields)
    .filter((f) => isNonNullType(f.type) && f.defaultValue === undefined && given[f.name] == null)
    .map((f) => f.name);
  const unknown = Object.keys(given).filter((key) => !(key in fields)).length;
  const parts = [
    missing.length > 0 ? `missing ${missing.join(", ")}` : "",
    unknown > 0 ? `${unknown} field${unknown > 1 ? "s" : ""} it does not have` : "",
  ].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join("; ")})` : "";
}

/** Every problem of one variable's value, in the order graphql-js reports them. */
function problemsOf(type: GraphQLInputType, value: unknown): Problem[] {
  if (value === undefined || value === null) {
    return isNonNullType(type) ? [{ path: [], expected: String(type), missing: true }] : [];
  }
  const problems: Problem[] = [];
  coerceInputValue(value, type, (path) => {
    const expected = typeAt(type, path);
    problems.push({
      path,
      expected: `${String(expected)}${objectDetail(expected, valueAt(value, path))}`,
    });
  });
  return problems;
}

const fieldOf = (name: string, path: readonly (string | number)[]) =>
  path.length === 0
    ? name
    : path.reduce<string>(
        (at, step) => (typeof step === "number" ? `${at}[${step}]` : `${at}.${step}`),
        name,
      );

/** The input types expected at the value nodes of a document (for literal errors). */
function expectedTypes(schema: GraphQLSchema, document: DocumentNode): Map<ASTNode, string> {
  const types = new Map<ASTNode, string>();
  const typeInfo = new TypeInfo(schema);
  const note = (node: ASTNode) => {
    const type = typeInfo.getInputType() ?? typeInfo.getParentInputType();
    if (type) types.set(node, String(type));
  };
  const visitor = Object.fromEntries([...VALUE_KINDS].map((kind) => [kind, note]));
  visit(document, visitWithTypeInfo(typeInfo, visitor));
  return types;
}

/**
 * Rewrites, in place, the messages of the errors that are about an input value: a variable that
 * does not fit its type (its message names the variable, the path and the expected type, and
 * `extensions.field` the path) and a literal of the document that does not (the expected type).
 * Other errors (ours, and those naming only the document's names) are left as they are.
 */
export function rewriteInputErrors(errors: readonly GraphQLError[], input: InputContext): void {
  const variables = new Map<string, { definition: VariableDefinitionNode; problems: Problem[] }>();
  let literals: Map<ASTNode, string> | undefined;
  for (const error of errors) {
    const node = error.nodes?.[0];
    if (!node) continue;
    if (node.kind === Kind.VARIABLE_DEFINITION) {
      const name = node.variable.name.value;
      let entry = variables.get(name);
      if (!entry) {
        const type = typeFromAST(input.schema, node.type) as GraphQLInputType | undefined;
        const problems = type ? problemsOf(type, input.variables?.[name]) : [];
        entry = { definition: node, problems };
        variables.set(name, entry);
      }
      const problem = entry.problems.shift() ?? { path: [], expected: print(node.type) };
      const at = problem.path.length > 0 ? ` at "${fieldOf(name, problem.path)}"` : "";
      error.message = problem.missing
        ? `Variable "$${name}" of required type ${problem.expected} was not provided`
        : `Variable "$${name}" got an invalid value${at}; expected ${problem.expected}`;
      error.extensions.field = fieldOf(name, problem.path);
      error.extensions.code = ErrorCode.BAD_USER_INPUT;
    } else if (VALUE_KINDS.has(node.kind) && input.document) {
      literals ??= expectedTypes(input.schema, input.document);
      const expected = literals.get(node);
      error.message = expected
        ? `Invalid value: expected ${expected}`
        : "Invalid value for its place in the document";
    }
  }
}
