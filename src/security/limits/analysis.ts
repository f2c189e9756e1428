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

/**
 * The static checks of one operation against one schema, each computed once per parsed
 * document: Apollo keeps parsed documents in its cache, so an operation a client repeats is
 * analysed on first sight only. The cost is kept only for operations without variables (their
 * list sizes are fixed).
 */
export class OperationAnalysis {
  private static readonly known = new WeakMap<
    GraphQLSchema,
    WeakMap<OperationDefinitionNode, OperationAnalysis>
  >();

  static of(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
  ): OperationAnalysis {
    let bySchema = OperationAnalysis.known.get(schema);
    if (!bySchema) {
      bySchema = new WeakMap();
      OperationAnalysis.known.set(schema, bySchema);
    }
    let analysis = bySchema.get(operation);
    if (!analysis) {
      analysis = new OperationAnalysis(schema, document, operation);
      bySchema.set(operation, analysis);
    }
    return analysis;
  }

  /** The operation with the document's fragments: what every check looks at. */
  readonly document: DocumentNode;
  readonly expandedFields: number;
  private readonly depthVerdicts = new Map<number, boolean>();
  private fixedCost: number | undefined;

  private constructor(
    private readonly schema: GraphQLSchema,
    document: DocumentNode,
    private readonly operation: OperationDefinitionNode,
  ) {
    this.document = operationDocument(document, operation);
    this.expandedFields = expandedFieldCount(this.document);
  }

  /** Call only when expandedFields is within bounds (depth analysis walks the inlined tree). */
  exceedsDepth(maxDepth: number): boolean {
    let verdict = this.depthVerdicts.get(maxDepth);
    if (verdict === undefined) {
      verdict = exceedsDepth(this.schema, this.document, maxDepth);
      this.depthVerdicts.set(maxDepth, verdict);
    }
    return verdict;
  }

  /** The requested cost; call only when expandedFields is within bounds. */
  cost(variables: Record<string, unknown> | undefined): number {
    if ((this.operation.variableDefinitions?.length ?? 0) > 0) {
      return requestedCost(this.schema, this.document, variables);
    }
    this.fixedCost ??= requestedCost(this.schema, this.document, {});
    return this.fixedCost;
  }
}
