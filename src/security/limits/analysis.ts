import {
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  validate,
} from "graphql";
import depthLimit from "graphql-depth-limit";
import { getComplexity } from "graphql-query-complexity";
import { costEstimator } from "./cost-model.js";

/*
 * Static analysis of one operation, run after graphql-js validation has passed (so every
 * fragment exists and none is cyclic: graphql-depth-limit throws a TypeError on an unknown
 * fragment, and would recurse forever on a cycle).
 */

/** The operation that will run, with the document's fragments: what every check looks at. */
export function operationDocument(
  document: DocumentNode,
  operation: OperationDefinitionNode,
): DocumentNode {
  const fragments = document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
  return { kind: Kind.DOCUMENT, definitions: [operation, ...fragments] };
}

/**
 * How many fields the operation has with every fragment spread inlined. Fragments are counted
 * once each (memoized), so this is linear in the document even when spreads nest exponentially;
 * depth and cost analysis walk the inlined tree, so they only run when it is small enough.
 */
export function expandedFieldCount(document: DocumentNode): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) {
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  }
  const memo = new Map<string, number>();
  const count = (set: SelectionSetNode | undefined): number => {
    let total = 0;
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.FIELD) total += 1 + count(selection.selectionSet);
      else if (selection.kind === Kind.INLINE_FRAGMENT) total += count(selection.selectionSet);
      else {
        const name = selection.name.value;
        if (!memo.has(name)) {
          memo.set(name, 0); // a cycle (never in a validated document) counts nothing more
          memo.set(name, count(fragments.get(name)?.selectionSet));
        }
        total += memo.get(name)!;
      }
    }
    return total;
  };
  return document.definitions.reduce(
    (sum, d) => (d.kind === Kind.OPERATION_DEFINITION ? sum + count(d.selectionSet) : sum),
    0,
  );
}

/** True when the operation is deeper than maxDepth (fragments inlined; introspection ignored). */
export function exceedsDepth(
  schema: GraphQLSchema,
  document: DocumentNode,
  maxDepth: number,
): boolean {
  return validate(schema, document, [depthLimit(maxDepth)]).length > 0;
}

const estimators = new WeakMap<GraphQLSchema, ReturnType<typeof costEstimator>>();

/** The operation's requested cost under the cost model (list sizes from `first`). */
export function requestedCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
): number {
  let estimator = estimators.get(schema);
  if (!estimator) {
    estimator = costEstimator(schema);
    estimators.set(schema, estimator);
  }
  return getComplexity({
    schema,
    query: document,
    variables: variables ?? {},
    estimators: [estimator],
  });
}
