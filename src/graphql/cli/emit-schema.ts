import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { renderPermissions } from "../../security/authz/document.js";
import { buildApiSchema, PERMISSIONS_FILE, printApiSchema, SCHEMA_FILE } from "../schema.js";

const schema = await buildApiSchema();
mkdirSync(dirname(SCHEMA_FILE), { recursive: true });
writeFileSync(SCHEMA_FILE, printApiSchema(schema));
console.log(`wrote ${SCHEMA_FILE}`);
writeFileSync(PERMISSIONS_FILE, renderPermissions(schema));
console.log(`wrote ${PERMISSIONS_FILE}`);
