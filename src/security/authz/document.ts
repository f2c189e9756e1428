import { type GraphQLSchema, isIntrospectionType, isObjectType } from "graphql";
import type { Role } from "../../db/schema.js";
import { SCOPES, type ScopeName } from "../principal.js";
import { ALL_ROLES, describeGrant, type FieldPolicy, type Grant } from "./access.js";
import { NODE_ENTRY_FIELDS, POLICY } from "./policy.js";

/** The sentence that ends a field's description: who may use it. Undefined for open fields. */
export function requirementOf(policy: FieldPolicy | undefined): string | undefined {
  switch (policy?.kind) {
    case undefined:
      return "Requires: nobody (not in the access policy).";
    case "public":
    case "structural":
      return undefined;
    case "node":
      return "Requires: what the typed field of the object's type requires (for example Query.customer for a Customer).";
    case "grant":
      return [
        `Requires: ${describeGrant(policy.grant)}.`,
        ...Object.entries(policy.arguments ?? {}).map(([path, grant]) =>
          argumentRequirement(path, grant),
        ),
      ].join(" ");
  }
}

/** The sentence of a field's description that names what one of its arguments requires. */
export const argumentRequirement = (path: string, grant: Grant): string =>
  `Argument ${path} requires: ${describeGrant(grant)}.`;

/** Every argument with a grant of its own, as "Type.field(path)" and the grant. */
function argumentRules(): { coordinate: string; grant: Grant }[] {
  return Object.entries(POLICY).flatMap(([typeName, fields]) =>
    Object.entries(fields).flatMap(([fieldName, policy]) =>
      policy.kind === "grant"
        ? Object.entries(policy.arguments ?? {}).map(([path, grant]) => ({
            coordinate: `${typeName}.${fieldName}(${path})`,
            grant,
          }))
        : [],
    ),
  );
}

/**
 * Ends each protected field's description with its requirement, so partners read the policy
 * in the introspected schema. Runs on the freshly built schema, before it is served or emitted.
 */
export function describeAccess(schema: GraphQLSchema): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || isIntrospectionType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const requirement = requirementOf(POLICY[type.name]?.[field.name]);
      if (!requirement) continue;
      field.description = field.description
        ? `${field.description}\n\n${requirement}`
        : requirement;
    }
  }
}

const YES = "✓";
const NO = "✗";

/** One matrix cell: the same marks for open, plumbing and node fields; `granted` judges grants. */
function cellOf(policy: FieldPolicy, granted: (grant: Grant) => string): string {
  switch (policy.kind) {
    case "public":
      return YES;
    case "structural":
      return "↑";
    case "node":
      return "by type";
    case "grant":
      return granted(policy.grant);
  }
}

const roleCell = (policy: FieldPolicy, role: Role): string =>
  cellOf(policy, (grant) => (grant.roles?.includes(role) ? YES : grant.self ? "self" : NO));

const scopeCell = (policy: FieldPolicy, scope: ScopeName): string =>
  cellOf(policy, ({ scopes }) => (scopes === "any" || scopes?.includes(scope) ? YES : NO));

function anonymousCell(policy: FieldPolicy): string {
  if (policy.kind === "public") return YES;
  if (policy.kind === "structural") return "↑";
  if (policy.kind === "grant" && policy.grant.self) return "self";
  return NO;
}

/** schema/permissions.md: the policy table as a role/scope × field matrix, generated. */
export function renderPermissions(schema: GraphQLSchema): string {
  const header = ["Field", ...ALL_ROLES, ...SCOPES.map((s) => `\`${s}\``), "anonymous"];
  const lines = [
    "# Permissions",
    "",
    "Generated from `src/security/authz/policy.ts` by `npm run schema:emit`; do not edit.",
    "The policy is explained in [docs/security.md](../docs/security.md); a test fails when this file is stale.",
    "",
    "✓ allowed · ✗ denied (the field is `null` with a `FORBIDDEN` error at its path, `UNAUTHENTICATED` to an anonymous caller) ·",
    "**self** only on the caller's own `User` (for anonymous callers: the user that",
    "`signUp`, `logIn` or `refreshSession` returns to them) · **↑** connection plumbing,",
    "readable by whoever may read the field that returned it · **by type** `node(id)` obeys",
    "the rule of the typed field of the object's type:",
    ...Object.entries(NODE_ENTRY_FIELDS).map(([type, [t, f]]) => `- \`${type}\`: \`${t}.${f}\``),
    "",
    "API client columns show what one scope grants on its own. Tenancy, private notes and the",
    "last-ADMIN guard are row rules on top of this matrix (see [docs/security.md](../docs/security.md)).",
    "",
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
  ];
  const types = Object.values(schema.getTypeMap())
    .filter((t) => isObjectType(t) && !isIntrospectionType(t))
    .sort((a, b) => a.name.localeCompare(b.name));
  for (const type of types) {
    if (!isObjectType(type)) continue;
    for (const fieldName of Object.keys(type.getFields()).sort()) {
      const policy: FieldPolicy = POLICY[type.name]?.[fieldName] ?? {
        kind: "grant",
        grant: {},
      };
      const cells = [
        `\`${type.name}.${fieldName}\``,
        ...ALL_ROLES.map((role) => roleCell(policy, role)),
        ...SCOPES.map((scope) => scopeCell(policy, scope)),
        anonymousCell(policy),
      ];
      lines.push(`| ${cells.join(" | ")} |`);
    }
  }
  const argumentLines = argumentRules().map(
    ({ coordinate, grant }) => `- \`${coordinate}\`: ${describeGrant(grant)}`,
  );
  if (argumentLines.length > 0) {
    lines.push(
      "",
      "Arguments with a rule of their own (using one reveals a protected field, so it needs that",
      "field's grant; otherwise the whole field is denied):",
      ...argumentLines,
    );
  }
  return lines.join("\n") + "\n";
}
