import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  getNamedType,
  type GraphQLFormattedError,
  type GraphQLNamedType,
  type GraphQLSchema,
  isInterfaceType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "graphql";
import { isDenial } from "../security/authz/denials.js";

interface Match {
  node: FieldNode;
  /** The type the field was selected on: a fragment's type condition, or the enclosing type. */
  type: GraphQLNamedType;
}

function collect(
  selectionSet: SelectionSetNode,
  type: GraphQLNamedType,
  key: string,
  schema: GraphQLSchema,
  fragments: Map<string, FragmentDefinitionNode>,
  out: Match[],
  visited: Set<string>,
): void {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if ((selection.alias ?? selection.name).value === key) out.push({ node: selection, type });
      continue;
    }
    let fragment: { typeCondition?: { name: { value: string } }; selectionSet: SelectionSetNode };
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      fragment = selection;
    } else {
      const name = selection.name.value;
      const definition = fragments.get(name);
      if (!definition || visited.has(name)) continue;
      visited.add(name);
      fragment = definition;
    }
    const condition = fragment.typeCondition && schema.getType(fragment.typeCondition.name.value);
    collect(fragment.selectionSet, condition ?? type, key, schema, fragments, out, visited);
  }
}

/**
 * The schema coordinate (type and field) of the field at a response path, e.g.
 * ["customers", "nodes", 0, "taxId"] → { type: "Customer", field: "taxId" }, following aliases
 * and fragments. Used for the authorization-denial metric from FORBIDDEN errors' paths.
 */
export function deniedField(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode | undefined,
  path: readonly (string | number)[] | undefined,
): { type: string; field: string } | undefined {
  if (!operation || !path?.length) return undefined;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      fragments.set(definition.name.value, definition);
    }
  }
  let type: GraphQLNamedType | undefined | null = schema.getRootType(operation.operation);
  let selectionSets: SelectionSetNode[] = [operation.selectionSet];
  const keys = path.filter((segment): segment is string => typeof segment === "string");
  for (const [index, key] of keys.entries()) {
    if (!type) return undefined;
    const matches: Match[] = [];
    for (const set of selectionSets) {
      collect(set, type, key, schema, fragments, matches, new Set());
    }
    const first = matches[0];
    if (!first) return undefined;
    const owner = first.type;
    const fieldName = first.node.name.value;
    if (index === keys.length - 1) return { type: owner.name, field: fieldName };
    if (!isObjectType(owner) && !isInterfaceType(owner)) return undefined;
    const definition = owner.getFields()[fieldName];
    if (!definition) return undefined;
    type = getNamedType(definition.type);
    selectionSets = matches.flatMap((m) => (m.node.selectionSet ? [m.node.selectionSet] : []));
  }
  return undefined;
}

export interface Denial {
  type: string;
  field: string;
  /** FORBIDDEN, or UNAUTHENTICATED (an anonymous caller). */
  code: string;
}

/**
 * The fields a response's errors show refused by authorization, by schema coordinate (no path,
 * no value): for the denial metric and the operation span's events.
 */
export function authorizationDenials(
  schema: GraphQLSchema,
  document: DocumentNode | undefined,
  operation: OperationDefinitionNode | undefined,
  errors: readonly GraphQLFormattedError[] | undefined,
): Denial[] {
  const denials: Denial[] = [];
  if (!document) return denials;
  for (const error of errors ?? []) {
    if (!error.path) continue;
    const denied = deniedField(schema, document, operation, error.path);
    const code = error.extensions?.code;
    if (denied && typeof code === "string" && isDenial(code, denied.type, denied.field)) {
      denials.push({ ...denied, code });
    }
  }
  return denials;
}
