import {
  type GraphQLFieldResolver,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  isObjectType,
} from "graphql";
import { getMetadataStorage } from "type-graphql";

type ParamMetadata = NonNullable<
  ReturnType<typeof getMetadataStorage>["fieldResolvers"][number]["params"]
>[number];

type Pick = (root: unknown, context: unknown, info: GraphQLResolveInfo) => unknown;

/** How a parameter is read when it is the root, the context or the info, whole; else undefined. */
function pickOf(param: ParamMetadata): Pick | undefined {
  switch (param.kind) {
    case "root":
      // a type other than Object would make TypeGraphQL convert the value to an instance
      if (param.propertyName !== undefined) return undefined;
      if (param.getType && param.getType() !== Object) return undefined;
      return (root) => root;
    case "context":
      return param.propertyName === undefined ? (_root, context) => context : undefined;
    case "info":
      return (_root, _context, info) => info;
    default:
      return undefined;
  }
}

/**
 * Calls the field resolver methods that take only the parent object, the context and the info
 * (`@Root() row, @Ctx() ctx`) directly, in place of TypeGraphQL's generic handler: that one
 * sorts and maps the parameter list, looks the resolver instance up and runs an empty middleware
 * chain on every call, about 5% of the CPU of a page of customers (400 calls). Methods with
 * arguments, middlewares or roles keep TypeGraphQL's handler; so does everything of a schema
 * built without these resolver classes. Apply it to the schema as TypeGraphQL built it, before
 * anything wraps the resolvers; changes the schema in place and returns it.
 */
export function callFieldResolversDirectly(
  schema: GraphQLSchema,
  resolverClasses: readonly (new () => object)[],
): GraphQLSchema {
  const storage = getMetadataStorage();
  const typeNames = new Map(storage.objectTypes.map((type) => [type.target, type.name]));
  const instances = new Map<unknown, Record<string, (...args: unknown[]) => unknown>>();
  for (const resolver of storage.fieldResolvers) {
    if (resolver.kind !== "external" || !resolverClasses.includes(resolver.target as never)) {
      continue;
    }
    if (resolver.middlewares?.length || resolver.roles?.length) continue;
    const picks = [...(resolver.params ?? [])]
      .sort((a, b) => a.index - b.index)
      .map((param, position) => (param.index === position ? pickOf(param) : undefined));
    if (picks.some((pick) => pick === undefined)) continue;
    const objectType = resolver.getObjectType?.();
    const type = objectType && schema.getType(typeNames.get(objectType) ?? "");
    const field = isObjectType(type) ? type.getFields()[resolver.schemaName] : undefined;
    if (!field) continue;
    const Target = resolver.target as new () => Record<string, (...args: unknown[]) => unknown>;
    const target = instances.get(Target) ?? new Target();
    instances.set(Target, target);
    const method = target[resolver.methodName]!;
    const [first, second] = picks as Pick[];
    const resolve: GraphQLFieldResolver<unknown, unknown> =
      picks.length === 0
        ? () => method.call(target)
        : picks.length === 1
          ? (root, _args, context, info) => method.call(target, first!(root, context, info))
          : picks.length === 2
            ? (root, _args, context, info) =>
                method.call(target, first!(root, context, info), second!(root, context, info))
            : (root, _args, context, info) =>
                method.apply(
                  target,
                  (picks as Pick[]).map((pick) => pick(root, context, info)),
                );
    field.resolve = resolve;
  }
  return schema;
}
