/**
 * JSON Schema for AsyncAPI components: payload schemas are read through the Standard JSON Schema
 * interface (`schema["~standard"].jsonSchema`, which zod v4 implements), `$schema` is stripped,
 * nested definitions are hoisted to `#/components/schemas` with every reference rewritten, and
 * name clashes between different schemas are resolved deterministically.
 *
 * @module
 */
import { camelize } from "../protocol/case.ts";
import type { StandardJSONSchemaV1, StandardSchemaV1 } from "../protocol/standard_schema.ts";

/** A JSON Schema object. */
export type JsonSchema = Record<string, unknown>;

/** Which side of a schema to describe: what senders write (`input`) or what validation yields (`output`). */
export type SchemaSide = "input" | "output";

/** Thrown when a document cannot be generated; the message says which message type and why. */
export class AsyncApiError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "AsyncApiError";
  }
}

/** The `$ref` prefix of component schemas. */
export const SCHEMA_REF_PREFIX = "#/components/schemas/";

type Converter = (options: {
  readonly target: string;
  readonly libraryOptions?: Record<string, unknown>;
}) => Record<string, unknown>;

/**
 * The JSON Schema of a payload schema through the Standard JSON Schema interface, as draft-07 (the
 * base of the AsyncAPI schema format), with `$schema` and `$id` removed. Types JSON Schema cannot
 * represent (dates, functions) become `{}` rather than failing. Throws {@linkcode AsyncApiError}
 * naming `where` when the schema cannot describe itself.
 */
export function toJsonSchema(
  schema: StandardSchemaV1 | StandardJSONSchemaV1,
  side: SchemaSide,
  where: string,
): JsonSchema {
  const props = (schema as StandardJSONSchemaV1)["~standard"];
  const convert = props?.jsonSchema?.[side] as Converter | undefined;
  if (typeof convert !== "function") {
    const vendor = (props as { vendor?: unknown } | undefined)?.vendor;
    throw new AsyncApiError(
      `${where}: the payload schema${
        typeof vendor === "string" ? ` (${vendor})` : ""
      } does not implement Standard JSON Schema ("~standard".jsonSchema); ` +
        `use zod >= 4.2 or another library that does`,
    );
  }
  let json: unknown;
  try {
    json = convert({ target: "draft-07", libraryOptions: { unrepresentable: "any" } });
  } catch (error) {
    throw new AsyncApiError(
      `${where}: converting the payload schema to JSON Schema failed: ${
        (error as Error)?.message ?? String(error)
      }`,
    );
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    throw new AsyncApiError(`${where}: the payload schema's JSON Schema is not an object`);
  }
  const { $schema: _schema, $id: _id, ...rest } = json as JsonSchema;
  return structuredClone(rest);
}

const SUBSCHEMA_MAPS = ["properties", "patternProperties", "definitions", "$defs"];
const SUBSCHEMA_LISTS = ["anyOf", "oneOf", "allOf", "prefixItems"];
const SUBSCHEMA_ONE = [
  "items",
  "additionalProperties",
  "additionalItems",
  "not",
  "if",
  "then",
  "else",
  "contains",
  "propertyNames",
  "unevaluatedProperties",
  "unevaluatedItems",
];

function isObject(value: unknown): value is JsonSchema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Applies `visit` to `schema` and to every subschema (depth first, parents first). */
function walk(schema: unknown, visit: (s: JsonSchema) => void): void {
  if (!isObject(schema)) return;
  visit(schema);
  for (const key of SUBSCHEMA_MAPS) {
    const map = schema[key];
    if (isObject(map)) { for (const v of Object.values(map)) walk(v, visit); }
  }
  for (const key of SUBSCHEMA_LISTS) {
    const list = schema[key];
    if (Array.isArray(list)) { for (const v of list) walk(v, visit); }
  }
  for (const key of SUBSCHEMA_ONE) {
    const v = schema[key];
    if (Array.isArray(v)) { for (const x of v) walk(x, visit); }
    else walk(v, visit);
  }
}

/** Camelizes property names and `required` entries everywhere in `schema` (in place). */
export function camelizeSchema(schema: JsonSchema): void {
  walk(schema, (s) => {
    if (isObject(s.properties)) {
      const out: JsonSchema = {};
      for (const [k, v] of Object.entries(s.properties)) {
        Object.defineProperty(out, camelize(k), {
          value: v,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      s.properties = out;
    }
    if (Array.isArray(s.required)) {
      s.required = s.required.map((r) => typeof r === "string" ? camelize(r) : r);
    }
  });
}

/** Rewrites every `$ref` in `schema` (in place). */
function rewriteRefs(schema: JsonSchema, rewrite: (ref: string) => string): void {
  walk(schema, (s) => {
    if (typeof s.$ref === "string") s.$ref = rewrite(s.$ref);
  });
}

/** Stable JSON text with sorted keys, for comparing schemas. */
export function canonical(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) =>
      isObject(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : 1)) : v,
  );
}

function capitalize(side: SchemaSide): string {
  return side === "input" ? "Input" : "Output";
}

/** Candidate names for a schema called `name`, first free-or-identical wins. */
function* candidates(name: string, side: SchemaSide): Generator<string> {
  yield name;
  yield `${name}${capitalize(side)}`;
  for (let i = 2;; i++) yield `${name}${capitalize(side)}${i}`;
}

/** Options of {@linkcode SchemaRegistry.payload}. */
export interface PayloadOptions {
  /** Names the message in error messages. */
  readonly where: string;
  /** The component name of the payload when it is hoisted. */
  readonly name: string;
  /** Hoist the payload (shared or explicitly titled); self-referencing payloads always are. */
  readonly hoist: boolean;
}

/** What {@linkcode SchemaRegistry.payload} gives back. */
export interface PayloadSchema {
  /** The schema to put under the message's `payload` property: inline, or a `$ref`. */
  readonly schema: JsonSchema;
}

/**
 * The `components.schemas` of a document under construction. Each named schema is registered
 * once; a different schema asking for a taken name gets `<Name>Input` / `<Name>Output`, then a
 * number, so the outcome depends only on registration order (which the generator keeps fixed).
 */
export class SchemaRegistry {
  readonly #schemas = new Map<string, JsonSchema>();
  readonly #canon = new Map<string, string>();
  readonly #camelCase: boolean;

  /** `camelCase` camelizes property names (the camelCase wire mode). */
  constructor(camelCase: boolean) {
    this.#camelCase = camelCase;
  }

  /** Registers `schema` under `name` or the first free variant; answers the key used. */
  register(name: string, schema: JsonSchema, side: SchemaSide): string {
    const text = canonical(schema);
    for (const key of candidates(name, side)) {
      const existing = this.#canon.get(key);
      if (existing === undefined) {
        this.#schemas.set(key, schema);
        this.#canon.set(key, text);
        return key;
      }
      if (existing === text) return key;
    }
    throw new Error("unreachable");
  }

  /** True when `name` is taken. */
  has(name: string): boolean {
    return this.#schemas.has(name);
  }

  /** The schema registered under `key`. */
  get(key: string): JsonSchema | undefined {
    return this.#schemas.get(key);
  }

  /**
   * The payload schema of a message: nested definitions hoisted and referenced; the payload itself
   * hoisted under `options.name` when asked (shared payloads) or when it refers to itself.
   */
  payload(schema: StandardSchemaV1, side: SchemaSide, options: PayloadOptions): PayloadSchema {
    const where = options.where;
    const json = toJsonSchema(schema, side, where);
    if (this.#camelCase) camelizeSchema(json);
    const defs: Record<string, JsonSchema> = {};
    for (const key of ["definitions", "$defs"]) {
      const d = json[key];
      if (isObject(d)) {
        for (const [name, def] of Object.entries(d)) if (isObject(def)) defs[name] = def;
        delete json[key];
      }
    }
    let selfRef = false;
    walk(json, (s) => {
      if (s.$ref === "#") selfRef = true;
    });
    for (const def of Object.values(defs)) {
      walk(def, (s) => {
        if (s.$ref === "#") selfRef = true;
      });
    }
    const rootIsRef = Object.keys(json).length === 1 && typeof json.$ref === "string";
    // A payload titled by its author (zod: `.meta({title})`) is a named, hoisted schema.
    const titled = typeof json.title === "string" && /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(json.title)
      ? json.title
      : undefined;
    const rootName = selfRef || ((options.hoist || titled) && !rootIsRef)
      ? titled ?? options.name
      : undefined;

    // Assign names to the definitions (and the root, when hoisted) until none clashes.
    const names = new Map<string, string>(Object.keys(defs).map((n) => [n, n]));
    const tries = new Map<string, Generator<string>>();
    const next = (id: string, base: string): string => {
      let gen = tries.get(id);
      if (!gen) {
        gen = candidates(base, side);
        gen.next(); // the plain name was the first try
        tries.set(id, gen);
      }
      return gen.next().value as string;
    };
    const ROOT = "\0root";
    if (rootName !== undefined) names.set(ROOT, rootName);
    for (let round = 0; round < 1000; round++) {
      const rewrite = (ref: string): string => {
        if (ref === "#") return SCHEMA_REF_PREFIX + names.get(ROOT)!;
        const m = /^#\/(?:definitions|\$defs)\/([^/]+)(.*)$/.exec(ref);
        if (!m) return ref;
        const id = decodeURIComponent(m[1].replace(/~1/g, "/").replace(/~0/g, "~"));
        const to = names.get(id);
        return to === undefined ? ref : SCHEMA_REF_PREFIX + to + m[2];
      };
      const root = structuredClone(json);
      rewriteRefs(root, rewrite);
      const hoisted = new Map<string, JsonSchema>();
      for (const [id, def] of Object.entries(defs)) {
        const copy = structuredClone(def);
        rewriteRefs(copy, rewrite);
        hoisted.set(id, copy);
      }
      if (rootName !== undefined) hoisted.set(ROOT, root);
      const clash = [...hoisted].find(([id, s]) => {
        const existing = this.#canon.get(names.get(id)!);
        return existing !== undefined && existing !== canonical(s);
      });
      const taken = new Set<string>();
      const internal = [...hoisted.keys()].find((id) => {
        const n = names.get(id)!;
        if (taken.has(n)) return true;
        taken.add(n);
        return false;
      });
      if (clash || internal !== undefined) {
        const id = clash ? clash[0] : internal!;
        names.set(id, next(id, id === ROOT ? rootName! : id));
        continue;
      }
      for (const [id, s] of hoisted) this.register(names.get(id)!, s, side);
      return {
        schema: rootName !== undefined ? { $ref: SCHEMA_REF_PREFIX + names.get(ROOT)! } : root,
      };
    }
    throw new AsyncApiError(`${where}: could not name the payload's schema definitions`);
  }

  /** Every schema, sorted by key. */
  toObject(): Record<string, JsonSchema> {
    return Object.fromEntries([...this.#schemas].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
  }
}
