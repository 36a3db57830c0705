/**
 * The shape of the AsyncAPI 3.0 document the generator makes (plain JSON), the generator's
 * options, and the small JSON helpers used to build it.
 *
 * @module
 */
import type { WsRoute } from "../app/app.ts";
import type { JsonSchema } from "./schema.ts";

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

// --- JSON helpers ---

/** JSON Pointer escaping of one segment. */
export function pointer(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** `[{name}]` for each tag, or `undefined` when there are none. */
export function tagList(tags: readonly string[] | undefined): { name: string }[] | undefined {
  return tags && tags.length ? tags.map((name) => ({ name })) : undefined;
}

/** Drops `undefined` values so they never reach JSON/YAML output. */
export function compact<T extends AsyncApiObject>(object: T): T {
  for (const k of Object.keys(object)) if (object[k] === undefined) delete object[k];
  return object;
}
