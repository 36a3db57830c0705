/**
 * The AsyncAPI 3.0 generator: one channel per WebSocket route (and per topic it hosts), one
 * operation per handler, messages and schemas as components. Everything comes from the app's
 * routes and the consumers' handler tables, in a fixed order, so the document can be kept as a
 * golden file.
 *
 * @module
 */
import type { WsRoute } from "../app/app.ts";
import { camelize, decamelize } from "../protocol/case.ts";
import type { ConsumerClass } from "../consumer/consumer.ts";
import { type HandlerInfo, type HandlerTable, handlerTable } from "../consumer/handlers.ts";
import type { AnyMessageType } from "../protocol/message.ts";
import type { StandardSchemaV1 } from "../protocol/standard_schema.ts";
import type { TopicClass } from "../consumer/topic.ts";
import {
  AsyncApiError,
  canonical,
  type JsonSchema,
  SCHEMA_REF_PREFIX,
  type SchemaSide,
} from "./schema.ts";
import { SchemaRegistry } from "./schema.ts";

/** Options of {@linkcode generateAsyncApi}; each one overrides what the app says. */
export interface AsyncApiOptions {
  /** `info.title` (default: the app's `title`, else `"AsyncAPI Documentation"`). */
  title?: string;
  /** `info.version` (default: the app's `version`, else `"1.0.0"`). */
  version?: string;
  /** `info.description` (default: the app's `description`; omitted when neither is set). */
  description?: string;
  /**
   * The server: `host[:port]`, optionally with a scheme and a base path
   * (`wss://api.example.com/base`). Default `"localhost:8000"`. A local host (localhost,
   * 127.0.0.1, 0.0.0.0, ::1) is listed as `development`, any other as `production`.
   */
  serverUrl?: string;
  /** The server protocol, `"ws"` or `"wss"` (default: the URL's scheme, else `"ws"`). */
  serverProtocol?: string;
  /**
   * camelCase names: channel names, message keys, operation ids and payload property names
   * (the camelCase wire mode). Default: on when every mounted consumer has `static camelCase = true`.
   */
  camelCase?: boolean;
}

/** What the generator reads: an {@linkcode App} or anything with its routes and doc options. */
export interface AsyncApiSource {
  /** The WebSocket routes in mounting order. */
  readonly routes: readonly WsRoute[];
  /** The app's documentation options. */
  readonly options?: {
    readonly title?: string;
    readonly version?: string;
    readonly description?: string;
  };
}

/** The `info` object. */
export interface AsyncApiInfo {
  /** Title. */
  title: string;
  /** API version. */
  version: string;
  /** Description, if any. */
  description?: string;
}

/** A server object. */
export interface AsyncApiServer {
  /** `host[:port]`. */
  host: string;
  /** `ws` or `wss`. */
  protocol: string;
  /** Base path, if any. */
  pathname?: string;
}

/** A JSON object of the document. */
export type AsyncApiObject = Record<string, unknown>;

/** An AsyncAPI 3.0 document as the generator makes it (plain JSON). */
export interface AsyncApiDocument {
  /** The spec version. */
  asyncapi: "3.0.0";
  /** Title, version, description. */
  info: AsyncApiInfo;
  /** One server: `development` or `production`. */
  servers: Record<string, AsyncApiServer>;
  /** Channels by name, in route order. */
  channels: Record<string, AsyncApiObject>;
  /** Operations by id, in route and handler order. */
  operations: Record<string, AsyncApiObject>;
  /** Messages and schemas, each sorted by key. */
  components: {
    /** Message components by key. */
    messages: Record<string, AsyncApiObject>;
    /** Schemas by name. */
    schemas: Record<string, JsonSchema>;
  };
}

const LOCAL_HOST = /^(localhost|127\.0\.0\.1|0\.0\.0\.0|::1|\[::1\])(:\d+)?$/i;

/**
 * `text` without leading (when `leading`) and trailing runs of `ch`. A scan, not /ch+$/: that
 * regex retries from every `ch` of a long run that is not at the end (quadratic time), and the
 * server URL can come from the request's Host header.
 */
function trimRuns(text: string, ch: string, leading: boolean): string {
  let start = 0;
  let end = text.length;
  if (leading) { while (start < end && text[start] === ch) start++; }
  while (end > start && text[end - 1] === ch) end--;
  return text.slice(start, end);
}

/** The server entry for `serverUrl` / `serverProtocol` (see {@linkcode AsyncApiOptions}). */
export function asyncApiServer(
  serverUrl = "localhost:8000",
  serverProtocol?: string,
): Record<string, AsyncApiServer> {
  let rest = serverUrl.trim();
  let protocol = serverProtocol;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(rest);
  if (scheme) {
    rest = scheme[2];
    const s = scheme[1].toLowerCase();
    protocol ??= s === "https" ? "wss" : s === "http" ? "ws" : s;
  }
  const slash = rest.indexOf("/");
  const host = slash === -1 ? rest : rest.slice(0, slash);
  const pathname = slash === -1 ? "" : trimRuns(rest.slice(slash), "/", false);
  const server: AsyncApiServer = { host, protocol: protocol ?? "ws" };
  if (pathname) server.pathname = pathname;
  const env = host === "" || LOCAL_HOST.test(host) || /localhost/i.test(host)
    ? "development"
    : "production";
  return { [env]: server };
}

/** `SystemMessageConsumer` → `system_message`; `RoomTopic` → `room_topic`. */
export function snakeName(className: string, suffix?: string): string {
  const base = suffix && className.endsWith(suffix) && className !== suffix
    ? className.slice(0, -suffix.length)
    : className;
  return trimRuns(decamelize(base.replace(/[^A-Za-z0-9_]+/g, "_")), "_", true);
}

function pascal(name: string): string {
  return camelize(name).replace(/^./, (c) => c.toUpperCase());
}

/** JSON Pointer escaping of one segment. */
function pointer(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}

function tagList(tags: readonly string[] | undefined): { name: string }[] | undefined {
  return tags && tags.length ? tags.map((name) => ({ name })) : undefined;
}

/** Drops `undefined` values so they never reach JSON/YAML output. */
function compact<T extends AsyncApiObject>(object: T): T {
  for (const k of Object.keys(object)) if (object[k] === undefined) delete object[k];
  return object;
}

/** One channel to document: a route, or a topic mounted on (or served by) a route. */
interface ChannelSource {
  name: string;
  address: string;
  params: readonly string[];
  table: HandlerTable;
  description?: string;
  tags?: readonly string[];
  topic?: { name: string; pattern: string; parameters: readonly string[] };
}

function channelSources(route: WsRoute, camelCase: boolean): ChannelSource[] {
  const name = (n: string) => camelCase ? camelize(n) : n;
  const address = route.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, "{$1}");
  const consumer: ConsumerClass = route.consumer;
  const topicSource = (topic: TopicClass, channelName: string, hosted: boolean): ChannelSource => {
    const table = handlerTable(topic);
    return {
      name: name(table.channel?.name ?? channelName),
      address,
      params: route.params,
      table,
      description: table.channel?.description ??
        (hosted
          ? `Topic '${topic.pattern}' over ${address}: subscribe with {"action": "subscribe", ` +
            `"topic": "${topic.pattern}"}; every frame carries its "topic"`
          : `Topic '${topic.pattern}' served alone: the connection is subscribed on connect, ` +
            `with the topic made from the path`),
      tags: table.channel?.tags,
      topic: {
        name: snakeName(topic.name),
        pattern: topic.pattern,
        parameters: topic.paramNames(),
      },
    };
  };
  if (consumer.defaultTopic) {
    return [topicSource(consumer.defaultTopic, snakeName(consumer.defaultTopic.name), false)];
  }
  const table = handlerTable(consumer);
  const hostName = table.channel?.name ?? snakeName(consumer.name, "Consumer");
  const out: ChannelSource[] = [];
  if (consumer.topics.length === 0 || table.ws.size > 0 || table.events.size > 0) {
    out.push({
      name: name(hostName),
      address,
      params: route.params,
      table,
      description: table.channel?.description,
      tags: table.channel?.tags,
    });
  }
  for (const topic of consumer.topics) {
    out.push(topicSource(topic, `${hostName}_${snakeName(topic.name)}`, true));
  }
  return out;
}

/** The message types a channel documents: client messages, replies, and what events send. */
function channelMessages(table: HandlerTable): AnyMessageType[] {
  const out = new Set<AnyMessageType>();
  for (const h of table.ws.values()) {
    out.add(h.input);
    for (const o of h.output) out.add(o);
  }
  for (const h of table.events.values()) for (const o of h.output) out.add(o);
  return [...out];
}

class Builder {
  readonly schemas: SchemaRegistry;
  readonly messages = new Map<string, AsyncApiObject>();
  readonly #keys = new Map<AnyMessageType, string>();
  readonly #clientSent = new Set<AnyMessageType>();
  readonly #shared = new Map<string, string>(); // "side\0schema id" → hoisted name
  readonly #schemaIds = new Map<StandardSchemaV1, number>();
  readonly camelCase: boolean;

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

function operationBaseId(h: HandlerInfo, camelCase: boolean): string {
  const explicit = !h.passthrough && h.operationId !== h.method;
  if (explicit) return h.operationId;
  const snake = decamelize(h.operationId);
  return camelCase ? camelize(snake) : snake;
}

/**
 * Generates the AsyncAPI 3.0 document of an app (or of any {@linkcode AsyncApiSource}).
 *
 * - `info` from the options, else the app's `title` / `version` / `description`;
 * - `servers`: one `development` or `production` entry (see {@linkcode AsyncApiOptions.serverUrl});
 * - `channels`: one per route, in mounting order (`/ws/room/:roomName` → address
 *   `/ws/room/{roomName}` with a `roomName` parameter), named by `@channel({name})` or the consumer
 *   name in snake_case without `Consumer`; a consumer's topics get one channel each
 *   (`<host>_<topic>`), a standalone topic consumer is named after its topic;
 * - `operations`: per channel, `receive` (with a `reply` when the handler declares outputs) for
 *   each client-message handler, then `send` for each event handler and passthrough; ids are the
 *   handler's `operationId` or its method name in snake_case, prefixed with the channel name when
 *   taken;
 * - `components`: a message per message type (key: the title in snake_case, `PingMessage` →
 *   `ping_message`) whose payload schema describes the whole `{action, payload}` frame; payload
 *   JSON Schema comes from the Standard JSON Schema interface (input side for messages clients
 *   send, output side for messages the server sends); nested definitions and payloads shared by
 *   several message types are hoisted into `components.schemas` and referenced.
 *
 * Throws {@linkcode AsyncApiError} (naming the message type) when a payload schema cannot be
 * described as JSON Schema.
 */
export function generateAsyncApi(
  source: AsyncApiSource,
  options: AsyncApiOptions = {},
): AsyncApiDocument {
  const app = source.options ?? {};
  const routes = source.routes;
  const camelCase = options.camelCase ??
    (routes.length > 0 && routes.every((r) => r.consumer.camelCase === true));
  const sources = routes.flatMap((r) => channelSources(r, camelCase));
  const builder = new Builder(sources, camelCase);

  // Channel names are unique: a second use gets a number.
  const used = new Set<string>();
  for (const s of sources) {
    let name = s.name;
    for (let i = 2; used.has(name); i++) name = `${s.name}${camelCase ? "" : "_"}${i}`;
    used.add(name);
    s.name = name;
  }

  const channels: Record<string, AsyncApiObject> = {};
  const operations: Record<string, AsyncApiObject> = {};
  const opId = (h: HandlerInfo, channelName: string): string => {
    const base = operationBaseId(h, camelCase);
    let id = base;
    if (Object.hasOwn(operations, id)) {
      id = camelCase ? camelize(`${channelName}_${base}`) : `${channelName}_${base}`;
    }
    for (let i = 2; Object.hasOwn(operations, id); i++) {
      id = camelCase ? `${channelName}${pascal(base)}${i}` : `${channelName}_${base}_${i}`;
    }
    return id;
  };

  for (const s of sources) {
    const channelRef = { $ref: `#/channels/${pointer(s.name)}` };
    const keys = new Map<AnyMessageType, string>();
    for (const type of channelMessages(s.table)) keys.set(type, builder.message(type, s.name));
    const ref = (type: AnyMessageType) => ({
      $ref: `#/channels/${pointer(s.name)}/messages/${pointer(keys.get(type)!)}`,
    });
    const messages = Object.fromEntries(
      [...new Set(keys.values())].sort().map((k) => [k, {
        $ref: `#/components/messages/${pointer(k)}`,
      }]),
    );
    channels[s.name] = compact({
      address: s.address,
      title: s.name,
      description: s.description,
      parameters: s.params.length
        ? Object.fromEntries(
          s.params.map((p) => [p, { description: `Path parameter ${p}` }]),
        )
        : undefined,
      "x-topic": s.topic
        ? { name: s.topic.name, pattern: s.topic.pattern, parameters: [...s.topic.parameters] }
        : undefined,
      messages,
      tags: tagList(s.tags),
    });
    for (const h of s.table.ws.values()) {
      operations[opId(h, s.name)] = compact({
        action: "receive",
        channel: channelRef,
        summary: h.summary || undefined,
        description: h.description || undefined,
        tags: tagList(h.tags),
        messages: [ref(h.input)],
        reply: h.output.length ? { channel: channelRef, messages: h.output.map(ref) } : undefined,
      });
    }
    for (const h of s.table.events.values()) {
      operations[opId(h, s.name)] = compact({
        action: "send",
        channel: channelRef,
        summary: h.summary || undefined,
        description: h.description || undefined,
        tags: tagList(h.tags),
        messages: h.output.length ? h.output.map(ref) : undefined,
      });
    }
  }

  const info: AsyncApiInfo = {
    title: options.title ?? (app.title || "AsyncAPI Documentation"),
    version: options.version ?? (app.version || "1.0.0"),
  };
  const description = options.description ?? app.description;
  if (description) info.description = description;

  return {
    asyncapi: "3.0.0",
    info,
    servers: asyncApiServer(options.serverUrl, options.serverProtocol),
    channels,
    operations,
    components: {
      messages: Object.fromEntries(
        [...builder.messages].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
      ),
      schemas: builder.schemas.toObject(),
    },
  };
}

export { AsyncApiError };
