import type { GraphQLSchema } from "graphql";
import type { Context } from "../../graphql/types.js";
import {
  type FieldResolver,
  isPromiseLike,
  wrapFieldResolvers,
} from "../../graphql/resolver-wrappers.js";
import { PII_FIELDS } from "../sensitive-data.js";

type Resolver = FieldResolver<Context>;

/**
 * Reports to the operation's audit record how a field resolved: `fieldResolved` sees every
 * error (a denial is a FORBIDDEN one) and, for personal-data fields, the value. A promise is
 * observed, not replaced: the resolver's own promise goes back to graphql-js.
 */
function audited(resolve: Resolver, coordinate: string, personalData: boolean): Resolver {
  return (source, args, context, info) => {
    const audit = context.operation.audit;
    if (!audit) return resolve(source, args, context, info);
    let result: unknown;
    try {
      result = resolve(source, args, context, info);
    } catch (error) {
      audit.fieldResolved(coordinate, error, undefined);
      throw error;
    }
    // a plain value matters when it is personal data or an Error returned instead of thrown
    if (!isPromiseLike(result)) {
      if (personalData || result instanceof Error)
        audit.fieldResolved(coordinate, undefined, result);
      return result;
    }
    void result.then(
      (value) => {
        if (personalData || value instanceof Error)
          audit.fieldResolved(coordinate, undefined, value);
      },
      (error: unknown) => audit.fieldResolved(coordinate, error, undefined),
    );
    return result;
  };
}

const instrumented = new WeakSet<GraphQLSchema>();

/**
 * Lets the audit log see the fields that can be denied or serve personal data: every field with
 * a resolver (authorization and resolvers throw FORBIDDEN from there) and every personal-data
 * field. Only a field without a resolver (graphql-js reads its parent's property) is left alone.
 * TypeGraphQL gives every field of the served schema a resolver, so there every field is wrapped:
 * one call each, where Apollo's willResolveField also built a closure per field. Changes the
 * schema in place and returns it; apply it last, so that it sees what graphql-js sees.
 */
export function auditFieldResolution(schema: GraphQLSchema): GraphQLSchema {
  if (instrumented.has(schema)) return schema;
  instrumented.add(schema);
  return wrapFieldResolvers<Context>(schema, (type, field, resolve) => {
    const coordinate = `${type.name}.${field.name}`;
    const personalData = PII_FIELDS.has(coordinate);
    if (!field.resolve && !personalData) return undefined;
    return audited(resolve, coordinate, personalData);
  });
}
