/**
 * The presence frames on the wire, with hand-written schemas (the core imports no schema
 * library) that validate and describe themselves for AsyncAPI:
 *
 * - client → server `{"action":"presence","payload":{"group":"room.a","limit":100,"diffs":true}}`
 *   (`limit` and `diffs` optional): the full list of a group the connection is in; `diffs: true`
 *   / `false` starts / stops its diff frames;
 * - server → client `{"action":"presence","payload":{"group","entries":{key:[meta…]},
 *   "stats":{"keys","connections"},"truncated"}}`, the reply;
 * - server → client `{"action":"presence_diff","payload":{"group","joins":{key:[meta…]},
 *   "leaves":{key:[meta…]}}}` (`"resync": true` when diffs were lost: ask for the list again).
 *
 * @module
 */
import { message, type MessageType } from "../protocol/message.ts";
import type { StandardSchemaV1 } from "../protocol/standard_schema.ts";
import type { PresenceDiff, PresenceEntries, PresenceStats } from "./backend.ts";
import { MAX_LIST_LIMIT } from "./backend.ts";
import { MAX_NAME_LENGTH as MAX_GROUP_NAME_LENGTH } from "../layers/names.ts";

/** The action of the presence request and its reply. */
export const PRESENCE_ACTION = "presence" as const;
/** The action of diff frames. */
export const PRESENCE_DIFF_ACTION = "presence_diff" as const;

/** What a client asks with a `presence` frame. */
export interface PresenceRequestPayload {
  /** The group (one the connection is in; default: the first it is tracked in). */
  group?: string;
  /** Most keys in the reply (default 1000, at most 10,000). */
  limit?: number;
  /** `true`: send this connection the group's diff frames from now on; `false`: stop. */
  diffs?: boolean;
}

/** The reply to a `presence` request. */
export interface PresenceReplyPayload {
  /** The group. */
  group: string;
  /** Key → metas. */
  entries: PresenceEntries;
  /** Counts of the whole group. */
  stats: PresenceStats;
  /** True when the group has more keys than `entries` holds. */
  truncated: boolean;
}

type Json = Record<string, unknown>;

const entriesSchema: Json = {
  type: "object",
  description: "Presence key → the metas of its connections (one per connection)",
  additionalProperties: { type: "array", items: { type: "object" } },
};

function schema<T>(json: Json, validate: (value: unknown) => string | undefined) {
  const s = {
    "~standard": {
      version: 1,
      vendor: "switchboard",
      validate: (value: unknown) => {
        const problem = validate(value);
        return problem === undefined
          ? { value: value as T }
          : { issues: [{ message: problem, path: [] }] };
      },
      jsonSchema: { input: () => structuredClone(json), output: () => structuredClone(json) },
    },
  };
  return s as unknown as StandardSchemaV1<T, T>;
}

function checkRequest(value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return "expected an object {group?, limit?, diffs?}";
  }
  const v = value as Record<string, unknown>;
  for (const k in v) if (k !== "group" && k !== "limit" && k !== "diffs") return `unknown key`;
  if (
    v.group !== undefined &&
    (typeof v.group !== "string" || v.group.length === 0 || v.group.length > MAX_GROUP_NAME_LENGTH)
  ) {
    return `group must be a string of 1-${MAX_GROUP_NAME_LENGTH} characters`;
  }
  if (
    v.limit !== undefined &&
    (!Number.isInteger(v.limit) || (v.limit as number) < 1 || (v.limit as number) > MAX_LIST_LIMIT)
  ) {
    return `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`;
  }
  if (v.diffs !== undefined && typeof v.diffs !== "boolean") return "diffs must be a boolean";
  return undefined;
}

/** Client → server: the list of a group (and diffs on or off). */
export const PresenceRequest: MessageType<"presence", PresenceRequestPayload> = message(
  PRESENCE_ACTION,
  schema<PresenceRequestPayload>({
    type: "object",
    properties: {
      group: {
        type: "string",
        minLength: 1,
        maxLength: MAX_GROUP_NAME_LENGTH,
        description: "Default: the first group the connection is tracked in",
      },
      limit: { type: "integer", minimum: 1, maximum: MAX_LIST_LIMIT },
      diffs: { type: "boolean", description: "true: send diff frames; false: stop them" },
    },
    additionalProperties: false,
  }, checkRequest),
  { title: "PresenceRequestMessage", description: "Asks for the presence list of a group" },
);

/** Server → client: the reply to {@linkcode PresenceRequest}. */
export const PresenceReply: MessageType<"presence", PresenceReplyPayload> = message(
  PRESENCE_ACTION,
  schema<PresenceReplyPayload>({
    type: "object",
    properties: {
      group: { type: "string" },
      entries: entriesSchema,
      stats: {
        type: "object",
        properties: { keys: { type: "integer" }, connections: { type: "integer" } },
        required: ["keys", "connections"],
      },
      truncated: { type: "boolean" },
    },
    required: ["group", "entries", "stats", "truncated"],
  }, () => undefined),
  { title: "PresenceReplyMessage", description: "The presence list of a group" },
);

/** Server → client: joins and leaves of a group, batched (at most one frame per interval). */
export const PresenceDiffMessage: MessageType<"presence_diff", PresenceDiff> = message(
  PRESENCE_DIFF_ACTION,
  schema<PresenceDiff>({
    type: "object",
    description: "Apply leaves first, then joins; resync: fetch the list again",
    properties: {
      group: { type: "string" },
      joins: entriesSchema,
      leaves: entriesSchema,
      resync: { type: "boolean", const: true },
    },
    required: ["group", "joins", "leaves"],
  }, () => undefined),
  { title: "PresenceDiffMessage", description: "Presence joins and leaves of a group" },
);
