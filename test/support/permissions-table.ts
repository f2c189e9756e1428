import { readFileSync } from "node:fs";
import {
  buildSchema,
  getNamedType,
  type GraphQLNamedType,
  type GraphQLSchema,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isSpecifiedScalarType,
  isUnionType,
} from "graphql";
import { projectPath } from "../../src/paths.js";

/*
 * What each grant of schema/permissions.md should see of schema/schema.graphql, read from those
 * two committed files (not from the code that makes the views), so that tests check the views
 * against the published policy.
 */

/** Cells that mean "this grant may use the field on some object". */
const USABLE = new Set(["✓", "self", "by type", "↑"]);

/** A column of the matrix: ADMIN, AGENT, VIEWER, AUDITOR, a scope, or anonymous. */
export type Column = string;

interface Matrix {
  columns: Column[];
  /** "Type.field" → column → cell. */
  cells: Map<string, Map<Column, string>>;
  /** "Type.field(path)" → the columns granted it. */
  argumentRules: Map<string, Set<Column>>;
}

function readMatrix(): Matrix {
  const lines = readFileSync(projectPath("schema", "permissions.md"), "utf8").split("\n");
  const rowOf = (line: string) =>
    line
      .split("|")
      .slice(1, -1)
      .map((cell) => cell.trim().replaceAll("`", ""));
  const header = rowOf(lines.find((line) => line.startsWith("| Field |"))!);
  const columns = header.slice(1);
  const cells = new Map<string, Map<Column, string>>();
  for (const line of lines) {
    if (!line.startsWith("| `")) continue;
    const [coordinate, ...row] = rowOf(line);
    cells.set(coordinate!, new Map(row.map((cell, i) => [columns[i]!, cell])));
  }
  const argumentRules = new Map<string, Set<Column>>();
  for (const line of lines) {
    const rule = /^- `(\w+\.\w+\([\w.]+\))`: (.+)$/.exec(line);
    if (!rule) continue;
    // "ADMIN, AGENT, or scope customers:pii"
    const granted = rule[2]!.split(/, or |, /).map((part) => part.replace(/^scope /, "").trim());
    argumentRules.set(rule[1]!, new Set(granted));
  }
  return { columns, cells, argumentRules };
}

export const MATRIX = readMatrix();
export const EMITTED_SCHEMA: GraphQLSchema = buildSchema(
  readFileSync(projectPath("schema", "schema.graphql"), "utf8"),
);

export interface ExpectedView {
  /** Named types other than the built-in scalars and introspection types. */
  types: Set<string>;
  /** "Type.field" of the object types' fields and the input types' fields. */
  fields: Set<string>;
}

/**
 * The view of a grant made of these columns (an API client with several scopes holds each one's
 * grants): fields some column may use, on the types reachable from the roots through them.
 * Two rules of the view are GraphQL's, not the table's: an object type keeps the fields its
 * interfaces declare (Node.id), and Query keeps node, so that every view has a query field.
 */
export function expectedView(columns: readonly Column[]): ExpectedView {
  const usable = (coordinate: string) =>
    coordinate === "Query.node" ||
    columns.some((column) => USABLE.has(MATRIX.cells.get(coordinate)?.get(column) ?? "✗"));
  const hiddenInputFields = new Set<string>();
  for (const [rule, granted] of MATRIX.argumentRules) {
    if (columns.some((column) => granted.has(column))) continue;
    const [, typeName, fieldName, path] = /^(\w+)\.(\w+)\(([\w.]+)\)$/.exec(rule)!;
    const [argument, ...inside] = path!.split(".");
    const owner = EMITTED_SCHEMA.getType(typeName!);
    if (!isObjectType(owner)) throw new Error(`${rule}: no such type`);
    let type = getNamedType(
      owner.getFields()[fieldName!]!.args.find((a) => a.name === argument)!.type,
    );
    for (const [i, name] of inside.entries()) {
      if (!isInputObjectType(type)) throw new Error(`${rule}: not an input path`);
      if (i === inside.length - 1) hiddenInputFields.add(`${type.name}.${name}`);
      else type = getNamedType(type.getFields()[name]!.type);
    }
  }

  const fieldsOf = (type: GraphQLNamedType): string[] => {
    if (isInterfaceType(type)) return Object.keys(type.getFields());
    if (!isObjectType(type)) return [];
    const declared = new Set(type.getInterfaces().flatMap((i) => Object.keys(i.getFields())));
    return Object.keys(type.getFields()).filter(
      (field) => declared.has(field) || usable(`${type.name}.${field}`),
    );
  };
  const types = new Set<string>();
  const fields = new Set<string>();
  const reach = (type: GraphQLNamedType) => {
    if (types.has(type.name)) return;
    types.add(type.name);
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const name of fieldsOf(type)) {
        const field = type.getFields()[name]!;
        if (isObjectType(type)) fields.add(`${type.name}.${name}`);
        reach(getNamedType(field.type));
        for (const arg of field.args) reach(getNamedType(arg.type));
      }
      for (const implemented of type.getInterfaces()) reach(implemented);
    } else if (isUnionType(type)) {
      for (const member of type.getTypes()) reach(member);
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) {
        const coordinate = `${type.name}.${field.name}`;
        if (hiddenInputFields.has(coordinate)) continue;
        fields.add(coordinate);
        reach(getNamedType(field.type));
      }
    }
  };
  reach(EMITTED_SCHEMA.getQueryType()!);
  reach(EMITTED_SCHEMA.getMutationType()!);
  return { types: withoutBuiltIns(types), fields };
}

const withoutBuiltIns = (names: Set<string>) =>
  new Set(
    [...names].filter((name) => {
      const type = EMITTED_SCHEMA.getType(name);
      return !name.startsWith("__") && !(type && isSpecifiedScalarType(type));
    }),
  );

/** The same description of a schema a client introspected. */
export function viewOf(schema: GraphQLSchema): ExpectedView {
  const types = new Set<string>();
  const fields = new Set<string>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith("__") || isSpecifiedScalarType(type)) continue;
    types.add(type.name);
    if (isObjectType(type) || isInputObjectType(type)) {
      for (const field of Object.keys(type.getFields())) fields.add(`${type.name}.${field}`);
    }
  }
  return { types, fields };
}
