import {
  type GraphQLArgumentConfig,
  type GraphQLFieldConfig,
  type GraphQLFieldConfigArgumentMap,
  GraphQLDirective,
  GraphQLInputObjectType,
  type GraphQLInputFieldConfig,
  GraphQLInterfaceType,
  GraphQLList,
  type GraphQLNamedType,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  type GraphQLType,
  GraphQLUnionType,
  assertValidSchema,
  getNamedType,
  isInputObjectType,
  isInterfaceType,
  isIntrospectionType,
  isListType,
  isNonNullType,
  isObjectType,
  isSpecifiedDirective,
  isSpecifiedScalarType,
  isUnionType,
} from "graphql";

/** What of a schema stays in a filtered copy. */
export interface SchemaFilter {
  /** A field of an object type (fields an interface of the type declares always stay). */
  field(typeName: string, fieldName: string): boolean;
  /** An argument of a field that stays. */
  argument(typeName: string, fieldName: string, argumentName: string): boolean;
  /** A field of an input object type. */
  inputField(typeName: string, fieldName: string): boolean;
  /** The description a kept field shows (it may speak of what the filter took out). */
  fieldDescription?(typeName: string, fieldName: string, description: string): string;
}

type Fields = Record<string, { args: readonly { name: string; type: GraphQLType }[] }>;

/**
 * A copy of the schema with only the fields, arguments and input fields the filter keeps, and
 * only the types still reachable from its root types through them. It is a schema to read, not
 * to run: its fields have no resolvers.
 *
 * Object types keep the fields their interfaces declare (a valid schema needs them); a type
 * left without any field is an error (GraphQL allows none), raised here rather than served.
 */
export function filterSchema(schema: GraphQLSchema, filter: SchemaFilter): GraphQLSchema {
  const keptFields = (type: GraphQLObjectType | GraphQLInterfaceType): string[] => {
    const fields = Object.keys(type.getFields());
    if (isInterfaceType(type)) return fields; // interfaces are kept whole by their implementers
    const declared = new Set(type.getInterfaces().flatMap((i) => Object.keys(i.getFields())));
    const kept = fields.filter((name) => declared.has(name) || filter.field(type.name, name));
    if (kept.length === 0) throw new Error(`the filtered schema leaves ${type.name} no field`);
    return kept;
  };
  const keptArguments = (typeName: string, fieldName: string, fields: Fields) =>
    fields[fieldName]!.args.filter((arg) => filter.argument(typeName, fieldName, arg.name));

  // Which types are reachable from the roots through what stays.
  const reached = new Set<string>();
  const reach = (type: GraphQLType): void => {
    const named = getNamedType(type);
    if (reached.has(named.name)) return;
    reached.add(named.name);
    if (isObjectType(named) || isInterfaceType(named)) {
      const fields = named.getFields();
      for (const name of keptFields(named)) {
        reach(fields[name]!.type);
        for (const arg of keptArguments(named.name, name, fields)) reach(arg.type);
      }
      for (const implemented of named.getInterfaces()) reach(implemented);
    } else if (isUnionType(named)) {
      for (const member of named.getTypes()) reach(member);
    } else if (isInputObjectType(named)) {
      for (const field of Object.values(named.getFields())) {
        if (filter.inputField(named.name, field.name)) reach(field.type);
      }
    }
  };
  // A mutation or subscription root with nothing left goes (the query root is required).
  const hasAnyField = (type: GraphQLObjectType | null | undefined): type is GraphQLObjectType =>
    type != null && Object.keys(type.getFields()).some((name) => filter.field(type.name, name));
  const query = schema.getQueryType();
  const mutation = schema.getMutationType();
  const subscription = schema.getSubscriptionType();
  for (const root of [query, mutation, subscription]) if (hasAnyField(root)) reach(root);

  // The kept types, rebuilt so that every reference points at the rebuilt type of that name.
  const built = new Map<string, GraphQLNamedType>();
  const rewire = <T extends GraphQLType>(type: T): T => {
    if (isListType(type)) return new GraphQLList(rewire(type.ofType)) as T;
    if (isNonNullType(type)) return new GraphQLNonNull(rewire(type.ofType)) as T;
    return (built.get((type as GraphQLNamedType).name) as T | undefined) ?? type;
  };
  const rewireArguments = (args: GraphQLFieldConfigArgumentMap, keep: (name: string) => boolean) =>
    Object.fromEntries(
      Object.entries(args)
        .filter(([name]) => keep(name))
        .map(([name, arg]): [string, GraphQLArgumentConfig] => [
          name,
          { ...arg, type: rewire(arg.type), astNode: undefined },
        ]),
    );
  const rewireFields = (
    type: GraphQLObjectType | GraphQLInterfaceType,
    fields: Record<string, GraphQLFieldConfig<unknown, unknown>>,
  ) => {
    const kept = new Set(keptFields(type));
    return Object.fromEntries(
      Object.entries(fields)
        .filter(([name]) => kept.has(name))
        .map(([name, field]): [string, GraphQLFieldConfig<unknown, unknown>] => [
          name,
          {
            ...field,
            description:
              field.description && filter.fieldDescription
                ? filter.fieldDescription(type.name, name, field.description)
                : field.description,
            type: rewire(field.type),
            args: rewireArguments(field.args ?? {}, (arg) => filter.argument(type.name, name, arg)),
            resolve: undefined,
            subscribe: undefined,
            astNode: undefined,
          },
        ]),
    );
  };

  for (const type of Object.values(schema.getTypeMap())) {
    if (!reached.has(type.name) || isIntrospectionType(type) || isSpecifiedScalarType(type)) {
      continue;
    }
    const bare = { astNode: undefined, extensionASTNodes: [] };
    if (isObjectType(type)) {
      const config = type.toConfig();
      built.set(
        type.name,
        new GraphQLObjectType({
          ...config,
          ...bare,
          interfaces: () => config.interfaces.map(rewire),
          fields: () => rewireFields(type, config.fields),
          isTypeOf: undefined,
        }),
      );
    } else if (isInterfaceType(type)) {
      const config = type.toConfig();
      built.set(
        type.name,
        new GraphQLInterfaceType({
          ...config,
          ...bare,
          interfaces: () => config.interfaces.map(rewire),
          fields: () => rewireFields(type, config.fields),
          resolveType: undefined,
        }),
      );
    } else if (isUnionType(type)) {
      const config = type.toConfig();
      built.set(
        type.name,
        new GraphQLUnionType({
          ...config,
          ...bare,
          types: () => config.types.map(rewire),
          resolveType: undefined,
        }),
      );
    } else if (isInputObjectType(type)) {
      const config = type.toConfig();
      built.set(
        type.name,
        new GraphQLInputObjectType({
          ...config,
          ...bare,
          fields: () =>
            Object.fromEntries(
              Object.entries(config.fields)
                .filter(([name]) => filter.inputField(type.name, name))
                .map(([name, field]): [string, GraphQLInputFieldConfig] => [
                  name,
                  { ...field, type: rewire(field.type), astNode: undefined },
                ]),
            ),
        }),
      );
    } else {
      built.set(type.name, type); // scalars and enums refer to no other type
    }
  }

  const root = (type: GraphQLObjectType | null | undefined) =>
    type ? (built.get(type.name) as GraphQLObjectType | undefined) : undefined;
  const view = new GraphQLSchema({
    description: schema.description,
    query: root(query),
    mutation: root(mutation),
    subscription: root(subscription),
    types: [...built.values()],
    directives: schema.getDirectives().map((directive) => {
      if (isSpecifiedDirective(directive)) return directive;
      const config = directive.toConfig();
      return new GraphQLDirective({
        ...config,
        args: rewireArguments(config.args, () => true),
        astNode: undefined,
      });
    }),
  });
  assertValidSchema(view);
  return view;
}
