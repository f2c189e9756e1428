import "reflect-metadata";
import { type GraphQLSchema, lexicographicSortSchema, printSchema } from "graphql";
import { buildSchema } from "type-graphql";
import { ApiClientResolver } from "../modules/api-clients/api-client.resolver.js";
import { AuditCheckpointResolver } from "../modules/audit/audit-checkpoint.resolver.js";
import { AuditEventResolver } from "../modules/audit/audit-event.resolver.js";
import { AuthResolver } from "../modules/auth/auth.resolver.js";
import { CustomerResolver } from "../modules/customers/customer.resolver.js";
import { NodeResolver } from "../modules/node/node.resolver.js";
import { NoteResolver } from "../modules/notes/note.resolver.js";
import { OrganizationResolver } from "../modules/organizations/organization.resolver.js";
import { UserResolver } from "../modules/users/user.resolver.js";
import { projectPath } from "../paths.js";
import { callFieldResolversDirectly } from "./direct-resolvers.js";
import { describeAccess } from "../security/authz/document.js";
import { applyAuthorization } from "../security/authz/shield.js";

export const resolvers = [
  NodeResolver,
  OrganizationResolver,
  UserResolver,
  CustomerResolver,
  NoteResolver,
  AuditEventResolver,
  AuditCheckpointResolver,
  ApiClientResolver,
  AuthResolver,
] as const;

/**
 * The TypeGraphQL schema before authorization. Only buildApiSchema and the authorization
 * benchmark (bench/authz-overhead.ts, its baseline) use it; nothing serves it.
 */
export async function buildResolverSchema(): Promise<GraphQLSchema> {
  const schema = await buildSchema({
    resolvers,
    validate: false, // inputs are validated with zod in the resolvers (BAD_USER_INPUT + field)
  });
  return callFieldResolversDirectly(schema, resolvers);
}

/**
 * The executable schema: the TypeGraphQL classes, each field's description ending with who may
 * use it, and the access policy enforced by graphql-shield (emitted to schema/schema.graphql).
 */
export async function buildApiSchema(): Promise<GraphQLSchema> {
  const schema = await buildResolverSchema();
  describeAccess(schema);
  return applyAuthorization(schema);
}

/** The SDL committed as schema/schema.graphql: sorted, so the file changes only when the schema does. */
export function printApiSchema(schema: GraphQLSchema): string {
  return printSchema(lexicographicSortSchema(schema)) + "\n";
}

export const SCHEMA_FILE = projectPath("schema", "schema.graphql");
export const PERMISSIONS_FILE = projectPath("schema", "permissions.md");
