import {
  type GraphQLResolveInfo,
  type GraphQLSchema,
  isIntrospectionType,
  isObjectType,
} from "graphql";
import {
  applyMiddleware,
  type IMiddlewareFieldMap,
  type IMiddlewareFunction,
} from "graphql-middleware";
import { allow, deny, type IRules, rule, shield } from "./graphql-shield.js";
import type { Context } from "../../graphql/types.js";
import { deniedTo } from "../../graphql/errors.js";
import { fromGlobalId } from "../../graphql/ids.js";
import { type FieldPolicy, type Grant, grantsByPrincipal } from "./access.js";
import { nodeGrant, POLICY } from "./policy.js";

/** A rule's decision for one field of one object; synchronous, so an allowed field costs no promise. */
type Decide = (parent: unknown, args: Record<string, unknown>, ctx: Context) => boolean;

/** Role and scope part of a grant: depends only on the principal, so decided once per operation. */
function byPrincipal(ctx: Context, grant: Grant): boolean {
  let decision = ctx.authz.decisions.get(grant);
  if (decision === undefined) {
    decision = grantsByPrincipal(grant, ctx.principal);
    ctx.authz.decisions.set(grant, decision);
  }
  return decision;
}

/** "self": the User row (parent) is the signed-in user, or the user an auth mutation returned. */
function isOwnUserRow(parent: unknown, ctx: Context): boolean {
  const rowId = (parent as { id?: unknown } | null)?.id;
  if (typeof rowId !== "string") return false;
  return (
    (ctx.principal.kind === "user" && ctx.principal.id === rowId) || ctx.authz.ownUserIds.has(rowId)
  );
}

function decisionOf(policy: Exclude<FieldPolicy, { kind: "public" | "structural" }>): Decide {
  if (policy.kind === "node") {
    return (_parent, args, ctx) => {
      const decoded = typeof args.id === "string" ? fromGlobalId(args.id) : undefined;
      // An id that names no object resolves to null for any signed-in principal.
      if (!decoded) return ctx.principal.kind !== "anonymous";
      return byPrincipal(ctx, nodeGrant(decoded.type));
    };
  }
  const { grant } = policy;
  const field: Decide = grant.self
    ? (parent, _args, ctx) => byPrincipal(ctx, grant) || isOwnUserRow(parent, ctx)
    : (_parent, _args, ctx) => byPrincipal(ctx, grant);
  if (!policy.arguments) return field;
  const argumentGrants = Object.entries(policy.arguments).map(
    ([path, argumentGrant]) => [path.split("."), argumentGrant] as const,
  );
  return (parent, args, ctx) =>
    field(parent, args, ctx) &&
    argumentGrants.every(
      ([path, argumentGrant]) => valueAt(args, path) == null || byPrincipal(ctx, argumentGrant),
    );
}

/** The value at a path of (nested input object) arguments; undefined where the path stops. */
function valueAt(args: Record<string, unknown>, path: readonly string[]): unknown {
  let value: unknown = args;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** The kind of the context's principal, or "unknown" when reading it fails (still denied). */
function principalKindOf(ctx: object): { kind: string } {
  try {
    return { kind: (ctx as Context).principal.kind };
  } catch {
    return { kind: "unknown" };
  }
}

/** Fields whose rule failed in an operation, so a failure is logged once, not once per row. */
const failuresLogged = new WeakMap<Context, Set<string>>();

/** A rule that throws denies, and the failure is logged (never sent to the client). */
function guarded(decide: Decide, coordinate: string): Decide {
  return (parent, args, ctx) => {
    try {
      return decide(parent, args, ctx);
    } catch (err) {
      const logged = failuresLogged.get(ctx) ?? new Set<string>();
      failuresLogged.set(ctx, logged);
      if (!logged.has(coordinate)) {
        logged.add(coordinate);
        ctx.services.logger.error({ err, field: coordinate }, "authorization rule failed; denied");
      }
      return false;
    }
  };
}

type FieldMiddleware = Extract<IMiddlewareFunction, (...args: never[]) => unknown>;
type ShieldRule = ReturnType<ReturnType<typeof rule>> | typeof allow;

interface CompiledField {
  coordinate: string;
  decide: Decide;
}

/** Every field of the policy that needs a decision (public and structural fields need none). */
function compilePolicy(): Map<string, Map<string, CompiledField>> {
  const compiled = new Map<string, Map<string, CompiledField>>();
  for (const [typeName, fields] of Object.entries(POLICY)) {
    const byField = new Map<string, CompiledField>();
    for (const [fieldName, policy] of Object.entries(fields)) {
      if (policy.kind === "public" || policy.kind === "structural") continue;
      const coordinate = `${typeName}.${fieldName}`;
      byField.set(fieldName, { coordinate, decide: guarded(decisionOf(policy), coordinate) });
    }
    compiled.set(typeName, byField);
  }
  return compiled;
}

/** The graphql-shield rule tree: one rule per decided field, `allow` for public and structural ones. */
function ruleTreeOf(compiled: Map<string, Map<string, CompiledField>>): IRules {
  const tree: Record<string, Record<string, ShieldRule>> = {};
  for (const [typeName, fields] of Object.entries(POLICY)) {
    const rules: Record<string, ShieldRule> = {};
    for (const fieldName of Object.keys(fields)) {
      const field = compiled.get(typeName)?.get(fieldName);
      rules[fieldName] = field
        ? rule(field.coordinate, { cache: "no_cache" })(
            (parent: unknown, args: Record<string, unknown>, ctx: Context) =>
              field.decide(parent, args, ctx),
          )
        : allow;
    }
    tree[typeName] = rules;
  }
  return tree;
}

const shieldOptions = {
  fallbackRule: deny, // shield's own default is allow: fail closed instead
  allowExternalErrors: false,
  debug: false,
  fallbackError: (
    error: unknown,
    _parent: object,
    _args: object,
    ctx: object,
    _info: GraphQLResolveInfo,
  ): Error => {
    // Rules never throw (guarded() turns a failure into a logged denial), so an error here is
    // the resolver's own (NOT_FOUND, BAD_USER_INPUT, …) or the denial below coming back through
    // shield's catch: pass it on unchanged; formatError hides anything unexpected. The denial is
    // thrown, not returned, so the field fails with it (graphql-js, the audit's field wrappers).
    if (error instanceof Error) throw error;
    throw deniedTo(principalKindOf(ctx));
  },
};

/**
 * The allowed case of a decided field without a promise: the same synchronous decision shield
 * makes, so a page of 100 customers does not turn 1,000 scalar fields into 1,000 promises.
 * Anything else (a denial) goes through shield's middleware, which answers with fallbackError.
 */
function withSyncAllow(field: CompiledField, viaShield: IMiddlewareFunction): FieldMiddleware {
  const shielded = typeof viaShield === "function" ? viaShield : viaShield.resolve!;
  return (resolve, parent, args, ctx: Context, info) =>
    field.decide(parent, args as Record<string, unknown>, ctx)
      ? // graphql-middleware passes on whatever a middleware returns; its type says Promise only.
        (resolve(parent, args, ctx, info) as Promise<unknown>)
      : shielded(resolve, parent, args, ctx, info);
}

/**
 * Applies the policy to the schema with graphql-shield: deny by default, one FORBIDDEN error
 * at the path of each denied field. Middleware wraps only fields that need a decision, plus
 * any field the table forgot (shield's fallback denies it). `syncAllow: false` (plain shield on
 * every decided field) exists for the overhead benchmark's comparison only.
 */
export function applyAuthorization(
  schema: GraphQLSchema,
  options: { syncAllow: boolean } = { syncAllow: true },
): GraphQLSchema {
  const compiled = compilePolicy();
  const generated = shield(ruleTreeOf(compiled), shieldOptions).generate(schema) as Record<
    string,
    IMiddlewareFieldMap
  >;
  const middleware: Record<string, IMiddlewareFieldMap> = {};
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || isIntrospectionType(type)) continue;
    const fields: IMiddlewareFieldMap = {};
    for (const fieldName of Object.keys(type.getFields())) {
      const viaShield = generated[type.name]?.[fieldName];
      if (!viaShield) continue;
      const policy = POLICY[type.name]?.[fieldName];
      if (policy?.kind === "public" || policy?.kind === "structural") continue; // plain allow
      const field = compiled.get(type.name)?.get(fieldName);
      fields[fieldName] = field && options.syncAllow ? withSyncAllow(field, viaShield) : viaShield;
    }
    if (Object.keys(fields).length > 0) middleware[type.name] = fields;
  }
  return applyMiddleware(schema, middleware);
}
