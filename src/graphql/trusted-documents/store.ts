/*
 * The loaded trusted documents, each parsed, validated and analysed (depth, size, and cost when
 * it has no variables) once at start, with the server's own parse options and validation rules:
 * a manifest document the server would refuse stops it from starting instead. Apollo takes them
 * from its document store (keyed by the sha256 of the text) without parsing or validating them
 * again, and the analyse stage finds their analysis made (OperationAnalysis caches it per
 * operation node, and these nodes are the ones Apollo hands it).
 */
import { InMemoryLRUCache, type KeyValueCache } from "@apollo/utils.keyvaluecache";
import {
  type DocumentNode,
  type GraphQLSchema,
  Kind,
  parse,
  type ParseOptions,
  specifiedRules,
  validate,
  type ValidationRule,
} from "graphql";
import { ConfigError } from "../../config.js";
import { sha256Hex } from "../../security/audit/describe-operation.js";
import { OperationAnalysis } from "../../security/limits/analysis.js";
import { MAX_EXPANDED_FIELDS } from "../pipeline/analyse.js";
import type { ManifestEntry } from "./manifest.js";

export interface TrustedDocument {
  id: string;
  source: string;
  document: DocumentNode;
}

export interface CompileOptions {
  /** The schema Apollo serves (the very object: analyses are cached per schema). */
  schema: GraphQLSchema;
  parseOptions: ParseOptions;
  validationRules: readonly ValidationRule[];
  limits: { depth: number; cost: number };
}

/** The reason the server would refuse this document whatever its variables, if any. */
function refusalOf(entry: ManifestEntry, options: CompileOptions): string | DocumentNode {
  let document: DocumentNode;
  try {
    document = parse(entry.source, options.parseOptions);
  } catch (error) {
    return `does not parse (${(error as Error).message})`;
  }
  const errors = validate(options.schema, document, [
    ...specifiedRules,
    ...options.validationRules,
  ]);
  if (errors.length > 0) return `is not valid (${errors[0]!.message})`;
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    const analysis = OperationAnalysis.of(options.schema, document, definition);
    if (analysis.expandedFields > MAX_EXPANDED_FIELDS) {
      return `expands to more than ${MAX_EXPANDED_FIELDS} fields`;
    }
    if (analysis.exceedsDepth(options.limits.depth)) {
      return `is deeper than DEPTH_LIMIT (${options.limits.depth})`;
    }
    // With variables the cost depends on them (list sizes): priced on each request.
    if ((definition.variableDefinitions?.length ?? 0) === 0) {
      const cost = analysis.cost(undefined);
      if (cost > options.limits.cost) return `costs ${cost}, above COST_LIMIT`;
    }
  }
  return document;
}

export class TrustedDocuments {
  private readonly byId = new Map<string, TrustedDocument>();
  private readonly byQueryHash = new Map<string, DocumentNode>();
  private served = 0;

  /** Compiles every manifest document, or throws ConfigError naming the first refused one. */
  constructor(entries: Iterable<ManifestEntry>, options: CompileOptions) {
    for (const entry of entries) {
      const compiled = refusalOf(entry, options);
      if (typeof compiled === "string") {
        throw new ConfigError(
          `Invalid trusted documents: ${entry.file}: the document of id ${entry.id} ${compiled}`,
        );
      }
      this.byId.set(entry.id, { id: entry.id, source: entry.source, document: compiled });
      this.byQueryHash.set(sha256Hex(entry.source), compiled);
    }
  }

  get size(): number {
    return this.byId.size;
  }

  /** How many operations Apollo took a precompiled trusted document for (none was parsed). */
  get documentsServed(): number {
    return this.served;
  }

  get(id: string): TrustedDocument | undefined {
    return this.byId.get(id);
  }

  /**
   * Apollo's document store: the trusted documents first, then an LRU of the other validated
   * documents (Apollo's default store, which a custom one replaces). Apollo's keys end in the
   * sha256 of the document text, after a prefix naming the schema; this server has one schema.
   */
  documentStore(): KeyValueCache<DocumentNode> {
    const others = new InMemoryLRUCache<DocumentNode>();
    return {
      get: (key) => {
        const trusted = this.byQueryHash.get(key.slice(key.lastIndexOf(":") + 1));
        if (!trusted) return others.get(key);
        this.served += 1;
        return Promise.resolve(trusted);
      },
      set: (key, value, options) => others.set(key, value, options),
      delete: (key) => others.delete(key),
    };
  }
}
