import type { GraphQLRequestListener } from "@apollo/server";
import { type DocumentNode, GraphQLError, visit, BREAK } from "graphql";
import type { Config } from "../../config.js";
import { ErrorCode } from "../../graphql/errors.js";
import type { Context } from "../../graphql/types.js";

type IntrospectionPolicy = Config["introspection"];

const INTROSPECTION_FIELDS = new Set(["__schema", "__type"]);
const seen = new WeakMap<DocumentNode, boolean>();

/** Whether the document reads the schema (`__schema` or `__type`, anywhere); `__typename` does not. */
export function readsSchema(document: DocumentNode): boolean {
  const known = seen.get(document); // Apollo reuses parsed documents, so this is usually a hit
  if (known !== undefined) return known;
  let found = false;
  visit(document, {
    Field(node) {
      if (!INTROSPECTION_FIELDS.has(node.name.value)) return undefined;
      found = true;
      return BREAK;
    },
  });
  seen.set(document, found);
  return found;
}

/**
 * Anonymous introspection under INTROSPECTION=authenticated is an authentication problem, not a
 * malformed document: 401 with UNAUTHENTICATED tells a partner's tool exactly what is missing (a
 * token). Per RFC 6750 §3.1 a request without credentials gets a bare Bearer challenge, which
 * keeps it apart from a bad token (error="invalid_token").
 */
const authenticationRequired = () =>
  new GraphQLError("Introspection requires an access token", {
    extensions: {
      code: ErrorCode.UNAUTHENTICATED,
      http: { status: 401, headers: new Map([["www-authenticate", 'Bearer realm="graphql"']]) },
    },
  });

/** INTROSPECTION=off: the schema is not readable by anyone; a document that asks is invalid. */
const introspectionDisabled = () =>
  new GraphQLError("Introspection is disabled on this server", {
    extensions: { code: ErrorCode.GRAPHQL_VALIDATION_FAILED, http: { status: 400 } },
  });

/**
 * INTROSPECTION=public|authenticated|off. Apollo's own switch is all-or-nothing, so the server
 * keeps it on and applies the policy here, once the operation is resolved and the principal known.
 */
export function introspectionPolicy(policy: IntrospectionPolicy): GraphQLRequestListener<Context> {
  if (policy === "public") return {};
  return {
    didResolveOperation: ({ document, contextValue }) => {
      if (!readsSchema(document)) return Promise.resolve();
      if (policy === "off") return Promise.reject(introspectionDisabled());
      if (contextValue.principal.kind === "anonymous") {
        return Promise.reject(authenticationRequired());
      }
      return Promise.resolve();
    },
  };
}
