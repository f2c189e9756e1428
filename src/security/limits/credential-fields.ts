import { type ASTVisitor, GraphQLError, OperationTypeNode, type ValidationContext } from "graphql";
import { rootFieldsOf } from "../../graphql/root-fields.js";

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
      const fields = rootFieldsOf(operation.selectionSet, (name) => context.getFragment(name))
        .map((field) => field.name.value)
        .filter((name) => name !== "__typename");
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
