import {
  type GraphQLRequestContext,
  type GraphQLRequestListener,
  type GraphQLResponse,
  HeaderMap,
} from "@apollo/server";
import {
  type DocumentNode,
  execute,
  type ExecutionResult,
  getVariableValues,
  type GraphQLFormattedError,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  TypeInfo,
  visit,
  visitWithTypeInfo,
} from "graphql";
import { ErrorCode } from "../../graphql/errors.js";
import { rootFieldsOf } from "../../graphql/root-fields.js";
import type { Context } from "../../graphql/types.js";
import { readsSchema } from "./introspection.js";
import type { SchemaViews } from "./schema-view.js";

/*
 * Introspection answered from the principal's view of the schema. graphql-js resolves __schema
 * and __type from the schema it executes on (no resolver can be put in their place), so:
 * - an operation that only reads the schema (what Sandbox, GraphiQL and codegen send) runs on
 *   the view instead of the whole schema, once its limits, cost and introspection policy passed;
 * - an operation that also reads data runs as any other on the whole schema (its data fields
 *   keep their field-by-field FORBIDDEN), and its __schema and __type answers are then replaced
 *   by the view's before anything is sent.
 */

const SCHEMA_FIELDS = new Set(["__schema", "__type"]);
const OPEN_FIELDS = new Set([...SCHEMA_FIELDS, "__typename"]);

type Request = GraphQLRequestContext<Context>;

/**
 * The document with the data fields of the query root taken out, and the variables only they
 * used (their types may be missing from the view): what runs on the view.
 */
function schemaReadingPart(schema: GraphQLSchema, document: DocumentNode): DocumentNode {
  const typeInfo = new TypeInfo(schema);
  const queryType = schema.getQueryType();
  const stripped = visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const atRoot = typeInfo.getParentType() === queryType;
        return atRoot && !OPEN_FIELDS.has(node.name.value) ? null : undefined;
      },
    }),
  );
  const used = new Set<string>();
  visit(stripped, {
    VariableDefinition: () => false,
    Variable(node) {
      used.add(node.name.value);
    },
  });
  return visit(stripped, {
    VariableDefinition: (node) => (used.has(node.variable.name.value) ? undefined : null),
  });
}

/**
 * How the operation reads the schema: not at all, only (each root field is __schema, __type or
 * __typename), or along with data. Only the operation that runs counts, not others of its document.
 */
function schemaReading(
  document: DocumentNode,
  operation: OperationDefinitionNode,
): "none" | "only" | "mixed" {
  const fragments = new Map(
    document.definitions.flatMap((d) =>
      d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [],
    ),
  );
  const names = rootFieldsOf(operation.selectionSet, (name) => fragments.get(name)).map(
    (field) => field.name.value,
  );
  if (!names.some((name) => SCHEMA_FIELDS.has(name))) return "none";
  return names.every((name) => OPEN_FIELDS.has(name)) ? "only" : "mixed";
}

const formatted = (result: ExecutionResult): GraphQLFormattedError[] | undefined =>
  result.errors?.map((error) => error.toJSON());

export function introspectionFromViews(views: SchemaViews): GraphQLRequestListener<Context> {
  /** The schema-reading part of the operation, run on the principal's view. */
  const runOnView = async (rc: Request): Promise<ExecutionResult> =>
    execute({
      schema: views.of(rc.contextValue.principal).schema,
      document: schemaReadingPart(rc.schema, rc.document!),
      operationName: rc.operationName,
      variableValues: rc.request.variables,
      contextValue: rc.contextValue,
    });

  /** Operations this listener answered whole (the rest, if they read the schema, get grafted). */
  const answered = new WeakSet<Context>();

  return {
    responseForOperation: async (rc): Promise<GraphQLResponse | null> => {
      const { document, operation } = rc;
      if (!document || !operation || !readsSchema(document)) return null; // cached: cheap
      if (schemaReading(document, operation) !== "only") return null;
      // Variables that do not coerce: Apollo answers that on the whole schema, running nothing.
      const variables = getVariableValues(
        rc.schema,
        operation.variableDefinitions ?? [],
        rc.request.variables ?? {},
      );
      if (variables.errors) return null;
      answered.add(rc.contextValue);
      const result = await runOnView(rc);
      const errors = formatted(result);
      return {
        http: { status: undefined, headers: new HeaderMap() },
        body: { kind: "single", singleResult: { data: result.data, ...(errors && { errors }) } },
      };
    },

    willSendResponse: async (rc) => {
      const { document, operation, response } = rc;
      if (!document || !operation || answered.has(rc.contextValue)) return;
      if (!readsSchema(document) || schemaReading(document, operation) !== "mixed") return;
      if (response.body.kind !== "single") return;
      const result = response.body.singleResult;
      const data = result.data;
      if (!data) return; // nothing ran, or a data field's error emptied it
      const fromView = await runOnView(rc);
      if (fromView.errors || !fromView.data) {
        // Cannot happen for a document the whole schema ran; if it does, answer none of it.
        result.data = null;
        result.errors = [
          ...(result.errors ?? []),
          {
            message: "Internal server error",
            extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
          },
        ];
        return;
      }
      for (const [key, value] of Object.entries(fromView.data)) data[key] = value;
    },
  };
}
