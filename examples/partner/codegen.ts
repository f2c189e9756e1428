import type { CodegenConfig } from "@graphql-codegen/cli";

/*
 * A partner's GraphQL Code Generator setup: the schema is the server's view for the partner's
 * token (introspection needs one in production), so the types hold exactly what it may read.
 *
 *   API_URL=https://api.example.com/graphql PARTNER_TOKEN=<accessToken> \
 *     npx graphql-codegen --config examples/partner/codegen.ts
 */
const url = process.env.API_URL ?? "http://localhost:4000/graphql";
const token = process.env.PARTNER_TOKEN;
if (!token) throw new Error("PARTNER_TOKEN: an access token from issueClientToken");

const config: CodegenConfig = {
  schema: { [url]: { headers: { Authorization: `Bearer ${token}` } } },
  documents: "examples/partner/operations.graphql",
  generates: {
    [process.env.PARTNER_TYPES_FILE ?? "examples/partner/generated/api.ts"]: {
      plugins: ["typescript", "typescript-operations", "typed-document-node"],
      config: {
        // The API's custom scalars travel as JSON strings: ISO 8601 instants and dates.
        scalars: {
          DateTimeISO: { input: "string", output: "string" },
          LocalDate: { input: "string", output: "string" },
        },
        strictScalars: true, // a scalar missing from the map fails the build (never `unknown`)
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
};

export default config;
