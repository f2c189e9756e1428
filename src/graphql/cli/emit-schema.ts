import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { buildApiSchema, printApiSchema, SCHEMA_FILE } from "../schema.js";

const schema = await buildApiSchema();
mkdirSync(dirname(SCHEMA_FILE), { recursive: true });
writeFileSync(SCHEMA_FILE, printApiSchema(schema));
console.log(`wrote ${SCHEMA_FILE}`);
