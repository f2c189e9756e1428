import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // type-graphql is CommonJS and requires graphql's CJS build; point ESM imports at the same
    // file so there is one graphql realm ("Cannot use GraphQLObjectType from another realm").
    alias: { graphql: require.resolve("graphql/index.js") },
  },
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    globalSetup: ["test/global-setup.ts"],
    pool: "forks",
    // One module graph per worker: the app, its schema and the embedded database are built once
    // per worker, not once per file (tests keep apart by creating organizations of their own).
    isolate: false,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
