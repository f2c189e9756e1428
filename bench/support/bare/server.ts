import { readFileSync } from "node:fs";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import {
  buildSchema,
  GraphQLError,
  GraphQLObjectType,
  GraphQLScalarType,
  type GraphQLSchema,
} from "graphql";
import { projectPath } from "../../../src/paths.js";
import { type BareContext, bareResolvers, createLoaders, type ResolverMap } from "./resolvers.js";
import type { BareSql } from "./sql.js";
import { BareTokens, type TokenSettings } from "./tokens.js";

/**
 * The contract's schema (schema/schema.graphql) with the given resolvers: a root field without
 * one says so, any other field reads the property of its name; timestamps go out as ISO strings.
 */
export function schemaWith(resolvers: ResolverMap): GraphQLSchema {
  const schema = buildSchema(readFileSync(projectPath("schema/schema.graphql"), "utf8"));
  const dateTime = schema.getType("DateTimeISO");
  if (dateTime instanceof GraphQLScalarType) {
    dateTime.serialize = (value) => (value instanceof Date ? value.toISOString() : value);
  }
  for (const rootType of [schema.getQueryType(), schema.getMutationType()]) {
    for (const field of Object.values(rootType?.getFields() ?? {})) {
      field.resolve = () => {
        throw new GraphQLError(`${field.name} is not in the bare server`);
      };
    }
  }
  for (const [typeName, fields] of Object.entries(resolvers)) {
    const type = schema.getType(typeName);
    if (!(type instanceof GraphQLObjectType)) throw new Error(`no object type ${typeName}`);
    for (const [fieldName, resolve] of Object.entries(fields)) {
      const field = type.getFields()[fieldName];
      if (!field) throw new Error(`no field ${typeName}.${fieldName}`);
      field.resolve = resolve;
    }
  }
  return schema;
}

export interface BareServerOptions {
  sql: BareSql;
  tokens: TokenSettings;
  bcryptRounds: number;
}

/**
 * What a user would run instead of this project, for `npm run bench` only: Apollo Server's own
 * standalone HTTP server (node:http, as its getting-started guide has it, every option at its
 * default) over the contract's schema with hand-written resolvers (./resolvers.ts), postgres-js
 * (or PGlite) and DataLoader. Nothing of src/ but the UUIDv7 generator and the project root.
 */
export async function startBareServer(
  options: BareServerOptions,
): Promise<{ url: string; stop(): Promise<void> }> {
  const tokens = new BareTokens(options.tokens);
  const apollo = new ApolloServer<BareContext>({
    schema: schemaWith(bareResolvers(options.sql, tokens, options.bcryptRounds)),
  });
  const { url } = await startStandaloneServer(apollo, {
    listen: { port: 0, host: "127.0.0.1" },
    context: ({ req }) => {
      const viewer = tokens.viewerOf(req.headers.authorization);
      return Promise.resolve({ viewer, loaders: createLoaders(options.sql, viewer) });
    },
  });
  return { url: url.replace(/\/$/, ""), stop: () => apollo.stop() };
}
