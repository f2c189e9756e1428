import {
  type ASTVisitor,
  type FragmentDefinitionNode,
  GraphQLError,
  Kind,
  OperationTypeNode,
  type SelectionSetNode,
  type ValidationContext,
} from "graphql";

/**
 * The mutations that check or set a credential: they hash or compare a password or a secret, or
 * wait for the authentication-attempt limiter, before they write.
 */
export const CREDENTIAL_FIELDS: ReadonlySet<string> = new Set([
  "signUp",
  "logIn",
  "refreshSession",
  "changePassword",
  "createUser",
  "issueClientToken",
]);

/** The root fields of a selection, in the order graphql-js runs them (fragments inlined). */
function rootFields(
  set: SelectionSetNode,
  fragments: (name: string) => FragmentDefinitionNode | null | undefined,
  seen = new Set<string>(),
): string[] {
  const names: string[] = [];
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value !== "__typename") names.push(selection.name.value);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      names.push(...rootFields(selection.selectionSet, fragments, seen));
    } else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value); // an unknown or cyclic spread is other rules' error
      const fragment = fragments(selection.name.value);
      if (fragment) names.push(...rootFields(fragment.selectionSet, fragments, seen));
    }
  }
  return names;
}

/**
 * A mutation's transaction opens at its first write and holds a database connection until the
 * operation ends; work that is not database work must therefore come before any write. A field
 * of CREDENTIAL_FIELDS does such work, so it must be the first field of its mutation, and there
 * can be only one: otherwise a document of many (or one after a write) would hold a connection
 * through every hash.
 */
export function credentialFieldsFirstRule(context: ValidationContext): ASTVisitor {
  return {
    OperationDefinition(operation) {
      if (operation.operation !== OperationTypeNode.MUTATION) return false;
      const fields = rootFields(operation.selectionSet, (name) => context.getFragment(name));
      const credential = fields.filter((field) => CREDENTIAL_FIELDS.has(field));
      if (credential.length === 0) return false;
      if (credential.length > 1 || !CREDENTIAL_FIELDS.has(fields[0]!)) {
        context.reportError(
          new GraphQLError(
            `"${credential[credential.length > 1 ? 1 : 0]}" must be the first and only field of its kind in a mutation: ` +
              `${[...CREDENTIAL_FIELDS].join(", ")} each run first, one per operation`,
            { nodes: operation },
          ),
        );
      }
      return false;
    },
  };
}
