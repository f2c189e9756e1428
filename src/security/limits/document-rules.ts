import {
  type ASTVisitor,
  type DirectiveNode,
  type FragmentDefinitionNode,
  GraphQLError,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import { clientError, ErrorCode } from "../../graphql/errors.js";

/*
 * Validation rules for abuse that graphql-js and graphql-armor let through: aliases of
 * `__typename` (armor does not count them, so 101 of them cost nothing), and one directive
 * repeated at one location (graphql-js reports every copy, so ten of them are ten errors).
 */

/**
 * At most `max` aliases in one operation, `__typename` included, each fragment counted as often
 * as it is spread (memoized, so a document of nested spreads is still counted in linear time).
 */
export function aliasLimitRule(max: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const memo = new Map<string, number>();
    const count = (set: SelectionSetNode | undefined, seen: Set<string>): number => {
      let total = 0;
      for (const selection of set?.selections ?? []) {
        if (selection.kind === Kind.FIELD) {
          total += (selection.alias ? 1 : 0) + count(selection.selectionSet, seen);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          total += count(selection.selectionSet, seen);
        } else {
          total += fragmentCount(context.getFragment(selection.name.value), seen);
        }
      }
      return total;
    };
    const fragmentCount = (
      fragment: FragmentDefinitionNode | null | undefined,
      seen: Set<string>,
    ) => {
      if (!fragment) return 0;
      const name = fragment.name.value;
      const known = memo.get(name);
      if (known !== undefined) return known;
      if (seen.has(name)) return 0; // a cycle: NoFragmentCyclesRule's error, not ours
      seen.add(name);
      const total = count(fragment.selectionSet, seen);
      seen.delete(name);
      memo.set(name, total);
      return total;
    };
    return {
      OperationDefinition(operation) {
        const found = count(operation.selectionSet, new Set());
        if (found > max) {
          context.reportError(
            clientError(`The operation has ${found} aliases; the limit is ${max}`, {
              code: ErrorCode.ALIAS_LIMIT_EXCEEDED,
            }),
          );
        }
        return false;
      },
    };
  };
}

/** The message of the one error a repeated directive gets (the others are dropped). */
export const REPEATED_DIRECTIVE = "A directive is repeated at one location";

/** A directive may appear once per location, whatever it is (known, unknown, repeatable). */
export function repeatedDirectiveRule(context: ValidationContext): ASTVisitor {
  let reported = false;
  const check = (node: { directives?: readonly DirectiveNode[] }) => {
    if (reported || !node.directives || node.directives.length < 2) return;
    const names = new Set<string>();
    for (const directive of node.directives) {
      if (names.has(directive.name.value)) {
        reported = true;
        context.reportError(
          new GraphQLError(REPEATED_DIRECTIVE, {
            nodes: directive,
            extensions: { code: ErrorCode.DIRECTIVE_LIMIT_EXCEEDED },
          }),
        );
        return;
      }
      names.add(directive.name.value);
    }
  };
  return {
    OperationDefinition: check,
    VariableDefinition: check,
    Field: check,
    FragmentSpread: check,
    InlineFragment: check,
    FragmentDefinition: check,
  };
}

/**
 * A document refused for a repeated directive gets that one error: the other rules' errors about
 * the same copies (each unknown, each a duplicate) would multiply the answer by the repeats.
 */
export function keepRepeatedDirectiveErrorOnly(errors: GraphQLError[]): void {
  const repeated = errors.find((error) => error.message === REPEATED_DIRECTIVE);
  if (repeated) errors.splice(0, errors.length, repeated);
}
