import { createRequire } from "node:module";
import type * as GraphqlShield from "graphql-shield";

/*
 * graphql-shield's CommonJS build. Its ES module build (7.6.5, the last release) imports
 * `isUndefined` from node:util, which Node 23 removed, so importing it stops the server at start
 * on Node 24. The CommonJS build reads that function only inside the and/or/chain rules, which
 * this project does not use (each field has one rule), and requires the same CommonJS graphql
 * as type-graphql does.
 */
const graphqlShield = createRequire(import.meta.url)("graphql-shield") as typeof GraphqlShield;

export const { allow, deny, rule, shield } = graphqlShield;
export type { IRules } from "graphql-shield";
