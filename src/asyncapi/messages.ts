/**
 * The message components of an AsyncAPI document and the payload schemas they reference.
 *
 * @module
 */
import type { AnyMessageType } from "../protocol/message.ts";
import { camelize, decamelize } from "../protocol/case.ts";
import type { StandardSchemaV1 } from "../protocol/standard_schema.ts";
import { channelMessages, type ChannelSource } from "./channels.ts";
import { type AsyncApiObject, compact, pointer } from "./document.ts";
import { pascal } from "./names.ts";
import { canonical, type JsonSchema, SCHEMA_REF_PREFIX, type SchemaSide } from "./schema.ts";
import { SchemaRegistry } from "./schema.ts";

/**
 * The message components of a document: one per message type, keyed by its title in snake_case,
 * with its `{action, payload}` frame schema registered in {@linkcode SchemaRegistry}. Payload
 * schemas used by several message types on the same side are hoisted and shared.
 */
export class MessageComponents {
  /** The schemas registered so far (`components.schemas`). */
  readonly schemas: SchemaRegistry;
  /** The message components by key (`components.messages`). */
  readonly messages = new Map<string, AsyncApiObject>();
  readonly #keys = new Map<AnyMessageType, string>();
  readonly #clientSent = new Set<AnyMessageType>();
  readonly #shared = new Map<string, string>(); // "side\0schema id" → hoisted name
  readonly #schemaIds = new Map<StandardSchemaV1, number>();
  /** The camelCase wire mode: keys and names camelized. */
  readonly camelCase: boolean;

  /** Prepares the components of `sources` (the client-sent types and the shared payloads). */
  constructor(sources: ChannelSource[], camelCase: boolean) {
    this.camelCase = camelCase;
    this.schemas = new SchemaRegistry(camelCase);
    for (const s of sources) for (const h of s.table.ws.values()) this.#clientSent.add(h.input);
    // Payload schemas used by several message types (on the same side) are hoisted and shared.
    const users = new Map<string, string[]>();
    const all = new Set(sources.flatMap((s) => channelMessages(s.table)));
    for (const type of all) {
      if (!type.schema) continue;
      const k = this.#sharedKey(type);
      users.set(k, [...(users.get(k) ?? []), type.title]);
    }
    for (const [k, titles] of users) {
      if (new Set(titles).size < 2) continue;
      const first = [...titles].sort()[0];
      this.#shared.set(k, `${first.replace(/Message$/, "") || first}Payload`);
    }
  }

  #sharedKey(type: AnyMessageType): string {
    const schema = type.schema!;
    let id = this.#schemaIds.get(schema);
    if (id === undefined) this.#schemaIds.set(schema, id = this.#schemaIds.size);
    return `${this.side(type)}\0${id}`;
  }

  /** `input` for a type clients send, `output` for one only the server sends. */
  side(type: AnyMessageType): SchemaSide {
    return this.#clientSent.has(type) ? "input" : "output";
  }

  /** The component key of `type`, registering it (and its schemas) on first use. */
  message(type: AnyMessageType, channelName: string): string {
    const known = this.#keys.get(type);
    if (known !== undefined) return known;
    const side = this.side(type);
    const where = `message '${type.action}' (${type.title})`;
    let payload: JsonSchema;
    if (type.schema) {
      const shared = this.#shared.get(this.#sharedKey(type));
      payload = this.schemas.payload(type.schema, side, {
        where,
        name: shared ?? `${type.title.replace(/Message$/, "") || type.title}Payload`,
        hoist: shared !== undefined,
      }).schema;
    } else {
      payload = { type: "null" };
    }
    const schema: JsonSchema = compact({
      type: "object",
      description: type.description,
      properties: { action: { type: "string", const: type.action }, payload },
      required: type.schema ? ["action", "payload"] : ["action"],
    });
    let title = type.title;
    const existing = this.schemas.get(title);
    if (existing && canonical(existing) !== canonical(schema)) {
      title = `${pascal(channelName)}${title}`;
    }
    const schemaKey = this.schemas.register(title, schema, side);
    const component = compact({
      name: type.action,
      title: schemaKey,
      description: type.description,
      contentType: "application/json",
      payload: { $ref: SCHEMA_REF_PREFIX + pointer(schemaKey) },
    });
    const base = this.camelCase ? camelize(decamelize(schemaKey)) : decamelize(schemaKey);
    let key = base;
    for (let i = 2;; i++) {
      const taken = this.messages.get(key);
      if (!taken || canonical(taken) === canonical(component)) break;
      key = `${base}${this.camelCase ? "" : "_"}${i}`;
    }
    this.messages.set(key, component);
    this.#keys.set(type, key);
    return key;
  }
}
