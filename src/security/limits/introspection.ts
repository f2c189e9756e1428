import {
  type ASTVisitor,
  GraphQLError,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
} from "graphql";
import { ErrorCode } from "../../graphql/errors.js";
import { rootFieldsOf } from "../../graphql/root-fields.js";

/**
 * Introspection costs no points and the depth limit does not count it (the standard query is
 * deeper than 10), and graphql-js' MaxIntrospectionDepthRule counts only nested fields,
 * interfaces, possibleTypes and inputFields: a chain of 60 `ofType`, or 15 aliased copies of the
 * whole schema in one operation (17 MB), passed. The standard introspection query
 * (getIntrospectionQuery, every option on) nests 15 levels deep from `__schema` and reads the
 * schema once: these bounds keep it, and what tools send, well inside.
 */
export const MAX_INTROSPECTION_DEPTH = 20;
export const MAX_SCHEMA_READS = 1;

/** Refuses deeper introspection than MAX_INTROSPECTION_DEPTH and more than one `__schema`. */
export function introspectionLimitRule(context: ValidationContext): ASTVisitor {
  // Depth below a selection set, inside introspection, per fragment: memoized, so fragments
  // spread many times cost one walk each (no exponential expansion).
  const fragmentDepths = new Map<string, number>();
  const insideDepth = (set: SelectionSetNode, entered: Set<string>): number => {
    let deepest = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const below = selection.selectionSet ? insideDepth(selection.selectionSet, entered) : 0;
        deepest = Math.max(deepest, 1 + below);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        deepest = Math.max(deepest, insideDepth(selection.selectionSet, entered));
      } else {
        const name = selection.name.value;
        if (entered.has(name)) continue; // a cycle: NoFragmentCyclesRule refuses it
        let depth = fragmentDepths.get(name);
        if (depth === undefined) {
          const fragment = context.getFragment(name);
          depth = fragment ? insideDepth(fragment.selectionSet, new Set([...entered, name])) : 0;
          fragmentDepths.set(name, depth);
        }
        deepest = Math.max(deepest, depth);
      }
    }
    return deepest;
  };

  return {
    OperationDefinition(operation) {
      const introspection = rootFieldsOf(operation.selectionSet, (name) =>
        context.getFragment(name),
      ).filter((field) => field.name.value === "__schema" || field.name.value === "__type");
      const depth = Math.max(
        0,
        ...introspection.map(
          (f) => 1 + (f.selectionSet ? insideDepth(f.selectionSet, new Set()) : 0),
        ),
      );
      if (depth > MAX_INTROSPECTION_DEPTH) {
        context.reportError(
          new GraphQLError(
            `Introspection is nested ${depth} levels deep; the limit is ${MAX_INTROSPECTION_DEPTH}`,
            { extensions: { code: ErrorCode.DEPTH_LIMIT_EXCEEDED } },
          ),
        );
      }
      const schemaReads = new Set(
        introspection
          .filter((field) => field.name.value === "__schema")
          .map((field) => field.alias?.value ?? field.name.value),
      ).size;
      if (schemaReads > MAX_SCHEMA_READS) {
        context.reportError(
          new GraphQLError(
            `The schema is read ${schemaReads} times in one operation; the limit is ${MAX_SCHEMA_READS}`,
            { extensions: { code: ErrorCode.COST_LIMIT_EXCEEDED } },
          ),
        );
      }
    },
  };
}
