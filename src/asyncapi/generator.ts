/**
 * The AsyncAPI 3.0 generator: one channel per WebSocket route (and per topic it hosts), one
 * operation per handler, messages and schemas as components. Everything comes from the app's
 * routes and the consumers' handler tables, in a fixed order, so the document can be kept as a
 * golden file.
 *
 * The generator is the core part of AsyncAPI support (no dependency); its pieces are
 * `document.ts` (the document's shape), `channels.ts`, `messages.ts`, `schema.ts`, `names.ts`
 * and `server.ts`. The HTML page, the HTTP endpoints and YAML are in `adapters/asyncapi/`, the
 * command line (`switchboard asyncapi`) in `cli/asyncapi.ts`.
 *
 * @module
 */
import { camelize } from "../protocol/case.ts";
import type { HandlerInfo } from "../consumer/handlers.ts";
import type { AnyMessageType } from "../protocol/message.ts";
import { channelMessages, channelSources } from "./channels.ts";
import {
  type AsyncApiDocument,
  type AsyncApiInfo,
  type AsyncApiObject,
  type AsyncApiOptions,
  type AsyncApiSource,
  compact,
  pointer,
  tagList,
} from "./document.ts";
import { MessageComponents } from "./messages.ts";
import { operationBaseId, pascal } from "./names.ts";
import { AsyncApiError } from "./schema.ts";
import { asyncApiServer } from "./server.ts";

export type {
  AsyncApiDocument,
  AsyncApiInfo,
  AsyncApiObject,
  AsyncApiOptions,
  AsyncApiServer,
  AsyncApiSource,
} from "./document.ts";
export { snakeName } from "./names.ts";
export { asyncApiServer } from "./server.ts";
export { AsyncApiError };

/**
 * A static key a consumer class sets to stay out of the document (the inspector's own socket:
 * an operator endpoint, not part of the app's API).
 */
export const UNDOCUMENTED: unique symbol = Symbol.for("switchboard.asyncapi.undocumented");

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
  const routes = source.routes.filter((r) => !(UNDOCUMENTED in r.consumer));
  const camelCase = options.camelCase ??
    (routes.length > 0 && routes.every((r) => r.consumer.camelCase === true));
  const sources = routes.flatMap((r) => channelSources(r, camelCase));
  const builder = new MessageComponents(sources, camelCase);

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
