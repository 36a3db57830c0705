/**
 * Generates a typed client from an AsyncAPI 3 document, for code that does not share the server's
 * consumer classes. This module is the generator (a pure function, no I/O); the command line
 * around it is `client/cli.ts` (`switchboard client --schema asyncapi.json --out client/`).
 *
 * The output directory gets `client.js` + `client.d.ts` (the runtime, copied: no dependency on this
 * package), `mod.js` + `mod.d.ts` (one `create<Channel>Client(baseUrl, params?, options?)` per
 * channel with its payload types) and a `README.md`. Plain JavaScript with declarations, so a
 * browser page imports `mod.js` as it is and TypeScript sees the types.
 *
 * @module
 */

/** A JSON value as the generator reads it. */
// deno-lint-ignore no-explicit-any
type Json = any;

/** Options of {@linkcode generateClient}. */
export interface GenerateClientOptions {
  /** Also write a README.md (default true). */
  readme?: boolean;
}

/** What {@linkcode generateClient} produces: file name → contents. */
export type GeneratedFiles = Record<string, string>;

/** Thrown for a document the generator cannot use. */
export class CodegenError extends Error {
  /** @param message what is wrong */
  constructor(message: string) {
    super(message);
    this.name = "CodegenError";
  }
}

const RESERVED = new Set([
  "break",
  "case",
  "catch",
  "class",
  "const",
  "continue",
  "default",
  "delete",
  "do",
  "else",
  "enum",
  "export",
  "extends",
  "false",
  "finally",
  "for",
  "function",
  "if",
  "import",
  "in",
  "instanceof",
  "new",
  "null",
  "return",
  "super",
  "switch",
  "this",
  "throw",
  "true",
  "try",
  "typeof",
  "var",
  "void",
  "while",
  "with",
  "Record",
  "Array",
  "Promise",
  "Object",
  "String",
  "Number",
  "Boolean",
]);

function pascal(name: string): string {
  const out = name.split(/[^a-zA-Z0-9]+/).filter(Boolean).map((w) =>
    w[0].toUpperCase() + w.slice(1)
  )
    .join("");
  return /^[0-9]/.test(out) ? `_${out}` : out || "Unnamed";
}

function typeName(name: string): string {
  const n = pascal(name);
  return RESERVED.has(n) ? `${n}Schema` : n;
}

function propKey(key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? key : JSON.stringify(key);
}

function resolvePointer(doc: Json, ref: string): Json {
  if (!ref.startsWith("#/")) throw new CodegenError(`Only local $refs are supported: ${ref}`);
  let node = doc;
  for (const raw of ref.slice(2).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    node = node?.[key];
    if (node === undefined) throw new CodegenError(`Unresolvable $ref ${ref}`);
  }
  return node;
}

/** Follows `$ref`s to a non-ref node. */
function deref(doc: Json, node: Json): Json {
  const seen = new Set<string>();
  while (node && typeof node === "object" && typeof node.$ref === "string") {
    if (seen.has(node.$ref)) throw new CodegenError(`Circular $ref ${node.$ref}`);
    seen.add(node.$ref);
    node = resolvePointer(doc, node.$ref);
  }
  return node;
}

class TypeWriter {
  constructor(readonly doc: Json) {}

  /** The TypeScript type of a JSON Schema. */
  type(schema: Json, indent = ""): string {
    if (schema === true || schema === undefined || schema === null) return "unknown";
    if (schema === false) return "never";
    if (typeof schema !== "object") return "unknown";
    if (typeof schema.$ref === "string") {
      const m = /^#\/components\/schemas\/([^/]+)$/.exec(schema.$ref);
      if (m) return typeName(m[1].replace(/~1/g, "/").replace(/~0/g, "~"));
      return this.type(deref(this.doc, schema), indent);
    }
    if ("const" in schema) return JSON.stringify(schema.const);
    if (Array.isArray(schema.enum)) {
      return schema.enum.map((v: unknown) => JSON.stringify(v)).join(" | ");
    }
    if (Array.isArray(schema.allOf)) {
      const parts = schema.allOf.map((s: Json) => this.type(s, indent));
      const rest = { ...schema };
      delete rest.allOf;
      delete rest.default;
      delete rest.description;
      delete rest.title;
      if (Object.keys(rest).length) parts.push(this.type(rest, indent));
      return parts.length === 1 ? parts[0] : parts.map((p: string) => `(${p})`).join(" & ");
    }
    const union = schema.anyOf ?? schema.oneOf;
    if (Array.isArray(union)) {
      return union.map((s: Json) => this.wrap(this.type(s, indent))).join(" | ");
    }
    if (Array.isArray(schema.type)) {
      return schema.type.map((t: string) => this.wrap(this.type({ ...schema, type: t }, indent)))
        .join(" | ");
    }
    switch (schema.type) {
      case "string":
        return "string";
      case "number":
      case "integer":
        return "number";
      case "boolean":
        return "boolean";
      case "null":
        return "null";
      case "array": {
        if (Array.isArray(schema.prefixItems)) {
          return `[${schema.prefixItems.map((s: Json) => this.type(s, indent)).join(", ")}]`;
        }
        return `Array<${this.type(schema.items ?? true, indent)}>`;
      }
      case "object":
        return this.object(schema, indent);
      default:
        if (schema.properties) return this.object(schema, indent);
        return "unknown";
    }
  }

  wrap(t: string): string {
    return /[|&]/.test(t) && !/^[{[]/.test(t) ? `(${t})` : t;
  }

  object(schema: Json, indent: string): string {
    const props = schema.properties ?? {};
    const required = new Set<string>(schema.required ?? []);
    const inner = indent + "  ";
    const lines: string[] = [];
    for (const [key, value] of Object.entries<Json>(props)) {
      const doc = value && typeof value === "object" ? value.description : undefined;
      if (doc) lines.push(`${inner}/** ${String(doc).replace(/\*\//g, "*\\/")} */`);
      lines.push(
        `${inner}readonly ${propKey(key)}${required.has(key) ? "" : "?"}: ${
          this.type(value, inner)
        };`,
      );
    }
    const extra = schema.additionalProperties;
    if (extra !== undefined && extra !== false && !Object.keys(props).length) {
      return `Record<string, ${extra === true ? "unknown" : this.type(extra, indent)}>`;
    }
    if (extra !== undefined && extra !== false) {
      lines.push(`${inner}readonly [key: string]: unknown;`);
    }
    if (!lines.length) return "Record<string, never>";
    return `{\n${lines.join("\n")}\n${indent}}`;
  }
}

interface ChannelPlan {
  key: string;
  address: string;
  params: string[];
  description?: string;
  send: Set<string>;
  receive: Set<string>;
  topicSend: Set<string>;
  topicReceive: Set<string>;
  topics: string[];
}

/** The frame type of a component message (`#/components/messages/x`). */
function messageType(doc: Json, writer: TypeWriter, ref: string): string {
  const msg = deref(doc, { $ref: ref });
  if (!msg || typeof msg !== "object") throw new CodegenError(`Bad message ${ref}`);
  return writer.type(msg.payload ?? true);
}

function channelKeyOf(ref: Json): string {
  const m = /^#\/channels\/([^/]+)$/.exec(ref?.$ref ?? "");
  if (!m) throw new CodegenError(`An operation's channel must be a #/channels/... $ref`);
  return m[1].replace(/~1/g, "/").replace(/~0/g, "~");
}

function messageRef(doc: Json, ref: Json): string {
  // Operation messages point into a channel's messages, which point at components.
  let node = ref;
  for (let i = 0; i < 5 && node && typeof node.$ref === "string"; i++) {
    if (/^#\/components\/messages\/[^/]+$/.test(node.$ref)) return node.$ref;
    node = resolvePointer(doc, node.$ref);
  }
  throw new CodegenError(`Operation message ${JSON.stringify(ref)} does not lead to a component`);
}

/**
 * Plans the clients of a document: one per channel that is not a topic multiplexed on another
 * channel's address; topics sharing an address are reached through the host's `topic()` handles.
 */
function plan(doc: Json): ChannelPlan[] {
  const channels: Record<string, Json> = doc.channels ?? {};
  const byKey = new Map<string, ChannelPlan>();
  for (const [key, ch] of Object.entries(channels)) {
    byKey.set(key, {
      key,
      address: String(ch.address ?? ""),
      params: [...String(ch.address ?? "").matchAll(/\{(\w+)\}/g)].map((m) => m[1]),
      description: ch.description,
      send: new Set(),
      receive: new Set(),
      topicSend: new Set(),
      topicReceive: new Set(),
      topics: ch["x-topic"] ? [key] : [],
    });
  }
  for (const op of Object.values<Json>(doc.operations ?? {})) {
    const p = byKey.get(channelKeyOf(op.channel));
    if (!p) continue;
    const msgs = (op.messages ?? []).map((m: Json) => messageRef(doc, m));
    const replies = (op.reply?.messages ?? []).map((m: Json) => messageRef(doc, m));
    if (op.action === "receive") {
      msgs.forEach((m: string) => p.send.add(m));
      replies.forEach((m: string) => p.receive.add(m));
    } else {
      msgs.forEach((m: string) => p.receive.add(m));
    }
  }
  const hosts: ChannelPlan[] = [];
  for (const [key, p] of byKey) {
    const ch = channels[key];
    const host = [...byKey.values()].find((h) =>
      h !== p && h.address === p.address && !channels[h.key]["x-topic"]
    );
    if (ch["x-topic"] && host) continue; // a topic multiplexed on host's socket
    hosts.push(p);
  }
  for (const [key, p] of byKey) {
    if (!channels[key]["x-topic"]) continue;
    const targets = hosts.filter((h) => h.address === p.address);
    for (const h of targets) {
      p.send.forEach((m) => h.topicSend.add(m));
      p.receive.forEach((m) => h.topicReceive.add(m));
      if (h !== p) h.topics.push(key);
    }
  }
  return hosts;
}

function union(doc: Json, writer: TypeWriter, refs: Set<string>, names: Map<string, string>) {
  if (!refs.size) return "never";
  return [...refs].sort().map((r) => names.get(r) ?? messageType(doc, writer, r)).join("\n  | ");
}

/** Generates the client files for an AsyncAPI 3 document. */
export function generateClient(
  doc: Json,
  runtime: { js: string; dts: string },
  options: GenerateClientOptions = {},
): GeneratedFiles {
  if (!doc || typeof doc !== "object" || !String(doc.asyncapi ?? "").startsWith("3.")) {
    throw new CodegenError("Not an AsyncAPI 3 document (no `asyncapi: 3.x`)");
  }
  const writer = new TypeWriter(doc);
  const dts: string[] = [
    "// Generated by `switchboard client` from an AsyncAPI document. Do not edit.",
    `// ${doc.info?.title ?? "API"} ${doc.info?.version ?? ""}`.trimEnd(),
    'import type { ClientOptions, SwitchboardClient } from "./client.js";',
    'export * from "./client.js";',
    "",
  ];
  const schemas: Record<string, Json> = doc.components?.schemas ?? {};
  for (const [name, schema] of Object.entries(schemas)) {
    if (schema?.description) {
      dts.push(`/** ${String(schema.description).replace(/\*\//g, "*\\/")} */`);
    }
    dts.push(`export type ${typeName(name)} = ${writer.type(schema)};`, "");
  }
  // Message type aliases: component messages whose payload is a component schema.
  const names = new Map<string, string>();
  for (const [name, msg] of Object.entries<Json>(doc.components?.messages ?? {})) {
    const ref = `#/components/messages/${name.replace(/~/g, "~0").replace(/\//g, "~1")}`;
    const payloadRef = msg?.payload?.$ref;
    if (typeof payloadRef === "string" && payloadRef.startsWith("#/components/schemas/")) {
      names.set(ref, writer.type(msg.payload));
    }
  }
  const js: string[] = [
    "// Generated by `switchboard client` from an AsyncAPI document. Do not edit.",
    '// @ts-self-types="./mod.d.ts"',
    'import { createClient } from "./client.js";',
    'export * from "./client.js";',
    "",
    "/** @param {string} base @param {string} address @param {Record<string, string>} params */",
    "function url(base, address, params) {",
    "  const path = address.replace(/\\{(\\w+)\\}/g, (_m, n) => {",
    "    if (params[n] === undefined) throw new TypeError(`Missing path parameter ${n}`);",
    "    return encodeURIComponent(params[n]);",
    "  });",
    '  return base.replace(/\\/+$/, "") + path;',
    "}",
    "",
  ];
  const readme: string[] = [
    `# ${doc.info?.title ?? "API"} client`,
    "",
    "Generated by `switchboard client` from an AsyncAPI document. Import `mod.js` (browsers, Deno,",
    "Node with `{ WebSocket }` from `ws`); types come from `mod.d.ts`.",
    "",
    "| function | address | sends | receives |",
    "|---|---|---|---|",
  ];
  const used = new Set<string>();
  for (const p of plan(doc)) {
    let base = pascal(p.key);
    for (let i = 2; used.has(base); i++) base = `${pascal(p.key)}${i}`;
    used.add(base);
    const api = `${base}Api`;
    const fn = `create${base}Client`;
    dts.push(
      `/** Channel \`${p.key}\` at \`${p.address}\`${
        p.description ? `: ${String(p.description).replace(/\*\//g, "*\\/")}` : ""
      } */`,
      `export interface ${api} {`,
      `  send:\n  | ${union(doc, writer, p.send, names)};`,
      `  receive:\n  | ${union(doc, writer, p.receive, names)};`,
      `  topicSend:\n  | ${union(doc, writer, p.topicSend, names)};`,
      `  topicReceive:\n  | ${union(doc, writer, p.topicReceive, names)};`,
      "}",
    );
    const paramsType = p.params.length
      ? `{ ${p.params.map((n) => `${propKey(n)}: string`).join("; ")} }`
      : "Record<string, never>";
    const topicsNote = p.topics.length
      ? ` Topics: ${p.topics.map((t) => `\`${doc.channels[t]["x-topic"]?.pattern}\``).join(", ")}.`
      : "";
    dts.push(
      `/** Connects to \`${p.address}\` under \`baseUrl\` (\`ws://host:port\`, or \`""\` in a page for its own host).${topicsNote} */`,
      `export declare function ${fn}(`,
      "  baseUrl: string,",
      `  params${p.params.length ? "" : "?"}: ${paramsType},`,
      "  options?: ClientOptions,",
      `): SwitchboardClient<${api}>;`,
      "",
    );
    js.push(
      `/** \`${p.address}\` */`,
      `export function ${fn}(baseUrl, params = {}, options) {`,
      `  return createClient(url(baseUrl, ${JSON.stringify(p.address)}, params), options);`,
      "}",
      "",
    );
    readme.push(
      `| \`${fn}\` | \`${p.address}\` | ${
        [...p.send, ...p.topicSend].map((r) => `\`${deref(doc, { $ref: r }).name ?? r}\``).join(
          ", ",
        ) || "—"
      } | ${
        [...p.receive, ...p.topicReceive].map((r) => `\`${deref(doc, { $ref: r }).name ?? r}\``)
          .join(", ") || "—"
      } |`,
    );
  }
  readme.push(
    "",
    "```js",
    `import { ${used.size ? `create${[...used][0]}Client` : "createClient"} } from "./mod.js";`,
    "```",
    "",
  );
  const files: GeneratedFiles = {
    "client.js": runtime.js,
    "client.d.ts": runtime.dts,
    "mod.js": js.join("\n"),
    "mod.d.ts": dts.join("\n"),
  };
  if (options.readme ?? true) files["README.md"] = readme.join("\n");
  return files;
}
