import {
  defaultFieldResolver,
  type GraphQLField,
  type GraphQLFieldResolver,
  type GraphQLObjectType,
  type GraphQLSchema,
  isIntrospectionType,
  isObjectType,
} from "graphql";

/** Whether a resolver's result is a promise (or any thenable) that graphql-js will await. */
export const isPromiseLike = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as PromiseLike<unknown> | null)?.then === "function";

export type FieldResolver<TContext = unknown> = GraphQLFieldResolver<unknown, TContext>;

/**
 * Replaces, in place, the resolver of each object field (introspection types aside) for which
 * `wrap` returns one; `resolve` is the field's own resolver or graphql-js's default. A layer that
 * must see fields as they resolve (the cost meter, the audit) wraps them once at start-up this
 * way, and leaves alone the fields it has no interest in.
 */
export function wrapFieldResolvers<TContext>(
  schema: GraphQLSchema,
  wrap: (
    type: GraphQLObjectType,
    field: GraphQLField<unknown, unknown>,
    resolve: FieldResolver<TContext>,
  ) => FieldResolver<TContext> | undefined,
): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || isIntrospectionType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const resolve = (field.resolve ?? defaultFieldResolver) as FieldResolver<TContext>;
      const wrapped = wrap(type, field, resolve);
      if (wrapped) field.resolve = wrapped;
    }
  }
  return schema;
}
