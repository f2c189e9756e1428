import {
  getNamedType,
  type GraphQLInputType,
  type GraphQLSchema,
  isInputObjectType,
  isObjectType,
} from "graphql";
import { filterSchema, type SchemaFilter } from "../../graphql/filter-schema.js";
import { printApiSchema } from "../../graphql/schema.js";
import type { Principal } from "../principal.js";
import { type FieldPolicy, type Grant, grantsByPrincipal } from "./access.js";
import { argumentRequirement } from "./document.js";
import { POLICY } from "./policy.js";

/*
 * Each principal's view of the schema: the types, fields and arguments its grant may ever use,
 * read from the policy table that also drives the rules and schema/permissions.md. Introspection
 * and GET /schema.graphql serve the view; execution always runs on the whole schema, so a field
 * outside the view is still refused field by field (FORBIDDEN), never as an invalid document.
 */

/**
 * What a view depends on: the role of a user, the scopes of an API client, or nothing. The
 * rules' role and scope checks (grantsByPrincipal) read only these.
 */
export function grantKeyOf(principal: Principal): string {
  switch (principal.kind) {
    case "anonymous":
      return "anonymous";
    case "user":
      return `role:${principal.role}`;
    case "client":
      return `scopes:${[...principal.scopes].sort().join(",")}`;
  }
}

/** "self" holds on some User row for a user (their own) and an anonymous caller (the one logIn returns). */
const mayBeSelf = (grant: Grant, principal: Principal) =>
  grant.self === true && principal.kind !== "client";

/**
 * Whether the principal may use the field on some object: the rule's role and scope part, with
 * "self" counted as yes (a user's own email stays in the view of every role).
 */
function mayEverUse(policy: FieldPolicy | undefined, principal: Principal): boolean {
  switch (policy?.kind) {
    case undefined:
      return false; // deny by default, hidden by default
    case "public":
    case "structural": // hidden with the types it serves, when nothing visible returns them
      return true;
    case "node":
      // A schema needs a query field: node(id) is in every view (it answers an anonymous
      // caller UNAUTHENTICATED, as it does today).
      return true;
    case "grant":
      return grantsByPrincipal(policy.grant, principal) || mayBeSelf(policy.grant, principal);
  }
}

/**
 * The policy's argument rules as the filter sees them: "filter.email" on Query.customers is
 * the field `email` of the input type of `filter`. An input type carrying such a rule is meant
 * for that one argument: the field is hidden wherever the type appears (which hides, never
 * reveals).
 */
function argumentRulesOf(schema: GraphQLSchema) {
  const argumentRules = new Map<string, Grant>(); // "Type.field(arg)"
  const inputFieldRules = new Map<string, Grant>(); // "InputType.field"
  for (const [typeName, fields] of Object.entries(POLICY)) {
    for (const [fieldName, policy] of Object.entries(fields)) {
      if (policy.kind !== "grant") continue;
      for (const [path, grant] of Object.entries(policy.arguments ?? {})) {
        const [argumentName, ...inside] = path.split(".");
        if (inside.length === 0) {
          argumentRules.set(`${typeName}.${fieldName}(${argumentName})`, grant);
          continue;
        }
        inputFieldRules.set(
          inputFieldAt(schema, `${typeName}.${fieldName}`, argumentName!, inside),
          grant,
        );
      }
    }
  }
  return { argumentRules, inputFieldRules };
}

/** "InputType.field" of the input field that an argument path ends at. */
function inputFieldAt(
  schema: GraphQLSchema,
  coordinate: string,
  argumentName: string,
  inside: readonly string[],
): string {
  const [typeName, fieldName] = coordinate.split(".") as [string, string];
  const owner = schema.getType(typeName);
  const field = isObjectType(owner) ? owner.getFields()[fieldName] : undefined;
  let type: GraphQLInputType | undefined = field?.args.find((a) => a.name === argumentName)?.type;
  for (const [index, name] of inside.entries()) {
    const input = type && getNamedType(type);
    if (!isInputObjectType(input)) break;
    if (index === inside.length - 1) return `${input.name}.${name}`;
    type = input.getFields()[name]?.type;
  }
  throw new Error(`${coordinate}(${[argumentName, ...inside].join(".")}) names no input field`);
}

/** The filter that makes the principal's view of the schema. */
export function viewFilterOf(schema: GraphQLSchema, principal: Principal): SchemaFilter {
  const { argumentRules, inputFieldRules } = argumentRulesOf(schema);
  const allows = (grant: Grant | undefined) =>
    grant === undefined || grantsByPrincipal(grant, principal);
  return {
    field: (type, field) => mayEverUse(POLICY[type]?.[field], principal),
    argument: (type, field, argument) => allows(argumentRules.get(`${type}.${field}(${argument})`)),
    inputField: (type, field) => allows(inputFieldRules.get(`${type}.${field}`)),
    // The requirement of an argument the view hides goes with it (describeAccess wrote it).
    fieldDescription: (type, field, description) => {
      const policy = POLICY[type]?.[field];
      if (policy?.kind !== "grant" || !policy.arguments) return description;
      return Object.entries(policy.arguments)
        .filter(([, grant]) => !allows(grant))
        .reduce(
          (text, [path, grant]) => text.replace(` ${argumentRequirement(path, grant)}`, ""),
          description,
        );
    },
  };
}

export interface SchemaView {
  readonly schema: GraphQLSchema;
  /** The view as SDL, printed as schema/schema.graphql is (the ADMIN's view is that file). */
  readonly sdl: string;
}

/**
 * The views of one schema, made on first use and kept per grant key. There are few grants
 * (anonymous, four roles, the sets of five scopes); the cap only bounds a policy that grew.
 */
export class SchemaViews {
  private readonly views = new Map<string, SchemaView>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly maxViews = 64,
  ) {}

  of(principal: Principal): SchemaView {
    const key = grantKeyOf(principal);
    let view = this.views.get(key);
    if (!view) {
      const schema = filterSchema(this.schema, viewFilterOf(this.schema, principal));
      let sdl: string | undefined;
      view = {
        schema,
        get sdl() {
          return (sdl ??= printApiSchema(schema));
        },
      };
      if (this.views.size >= this.maxViews) this.views.delete(this.views.keys().next().value!);
      this.views.set(key, view);
    }
    return view;
  }
}
