import {
  getNamedType,
  getNullableType,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  isCompositeType,
  isListType,
  isObjectType,
} from "graphql";
import type { ComplexityEstimator } from "graphql-query-complexity";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../../graphql/pagination.js";

/*
 * The cost model of BEHAVIOUR.md, in one place. Both the requested cost (before execution, from
 * the document) and the actual cost (after execution, from what really resolved) are derived
 * from this classification, so they cannot disagree:
 *
 * - scalar and enum fields (and lists of them) cost 0;
 * - an object field costs 1 plus its selection;
 * - a connection field costs 1 plus `first` (default 20) times one element: an element is one
 *   node, reached through `nodes` or `edges { node }` (the edge wrapper itself is free, so both
 *   spellings cost the same); `pageInfo` and `totalCount` belong to the connection itself;
 * - any other list of objects costs 1 plus `first` (default 20) times (1 + its selection);
 * - each mutation field costs 10 plus its selection;
 * - an operation costs at least 1 (a mutation at least 10), whatever it selects;
 * - introspection (`__schema`, `__type`, `__typename`) is exempt: graphql-js bounds it.
 */
export type FieldCostKind =
  | "free" // scalars, enums, pageInfo, the edge wrapper
  | "introspection" // exempt, selection included
  | "object" // 1 + selection
  | "mutation" // 10 + selection
  | "connection" // 1 + first × element
  | "list" // 1 + first × (1 + selection)
  | "nodes" // Connection.nodes: one element, 1 + selection (multiplied by the connection)
  | "edges"; // Connection.edges: one element's selection (edge.node counts the node)

export const OBJECT_COST = 1;
export const MUTATION_COST = 10;

/**
 * Nothing is free: whatever an operation selects (`{ __typename }` included), and whether or not
 * it runs, it takes at least this much from its caller's budget.
 */
export function minimumOperationCost(operationType: string | undefined): number {
  return operationType === "mutation" ? MUTATION_COST : OBJECT_COST;
}

const isConnectionType = (type: GraphQLCompositeType): boolean =>
  isObjectType(type) &&
  type.name.endsWith("Connection") &&
  "edges" in type.getFields() &&
  "nodes" in type.getFields();

const cache = new WeakMap<GraphQLField<unknown, unknown>, FieldCostKind>();

/** How the field `parent.field` is charged (cached per field definition). */
export function fieldCostKind(
  parent: GraphQLCompositeType,
  field: GraphQLField<unknown, unknown>,
  isMutationRoot: boolean,
): FieldCostKind {
  const cached = cache.get(field);
  if (cached) return cached;
  const kind = classify(parent, field, isMutationRoot);
  cache.set(field, kind);
  return kind;
}

function classify(
  parent: GraphQLCompositeType,
  field: GraphQLField<unknown, unknown>,
  isMutationRoot: boolean,
): FieldCostKind {
  if (field.name.startsWith("__") || parent.name.startsWith("__")) return "introspection";
  if (isMutationRoot) return "mutation";
  const named = getNamedType(field.type);
  if (isConnectionType(parent)) {
    if (field.name === "nodes") return "nodes";
    if (field.name === "edges") return "edges";
    return "free"; // pageInfo, totalCount: part of the connection's own 1
  }
  if (!isCompositeType(named)) return "free";
  if (isConnectionType(named)) return "connection";
  if (isListType(getNullableType(field.type))) return "list";
  return "object";
}

/** The page size a list field is charged for: its `first` (clamped to the allowed range) or 20. */
export function pageSizeOf(args: Record<string, unknown>): number {
  const first = args.first;
  if (typeof first !== "number" || !Number.isFinite(first)) return DEFAULT_PAGE_SIZE;
  // An out-of-range `first` is refused by the resolver (BAD_USER_INPUT naming it); charging for
  // 100000 elements would only hide that clearer error behind COST_LIMIT_EXCEEDED.
  return Math.min(Math.max(Math.trunc(first), 0), MAX_PAGE_SIZE);
}

/** The requested cost of one field, from its kind and its selection's cost. */
export function requestedFieldCost(
  kind: FieldCostKind,
  args: Record<string, unknown>,
  selectionCost: number,
): number {
  switch (kind) {
    case "free":
    case "edges":
      return selectionCost;
    case "introspection":
      return 0;
    case "object":
    case "nodes":
      return OBJECT_COST + selectionCost;
    case "mutation":
      return MUTATION_COST + selectionCost;
    case "connection":
      return OBJECT_COST + pageSizeOf(args) * selectionCost;
    case "list":
      return OBJECT_COST + pageSizeOf(args) * (OBJECT_COST + selectionCost);
  }
}

/** The graphql-query-complexity estimator that applies this model to every field of the schema. */
export function costEstimator(schema: GraphQLSchema): ComplexityEstimator {
  const mutationType = schema.getMutationType();
  return ({ type, field, args, childComplexity }) => {
    const kind = fieldCostKind(
      type,
      field as GraphQLField<unknown, unknown>,
      type === mutationType,
    );
    return requestedFieldCost(kind, args, childComplexity);
  };
}
