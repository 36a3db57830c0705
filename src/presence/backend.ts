/**
 * The presence contract: who is in a group, across processes. A {@linkcode PresenceBackend}
 * holds, per group, entries keyed by a presence key (a user id by default), each with one meta
 * per connection (three tabs of one user: one key, three metas). Key-level diffs: a key joins
 * when its first meta appears and leaves when its last meta is gone, so closing one of three
 * tabs emits nothing.
 *
 * Implementations: {@linkcode InMemoryPresence} (one process, `memory.ts`), the Redis backend
 * (`adapters/redis/presence.ts`) and the NATS one (`adapters/nats/presence.ts`). The bounds every
 * backend applies, and the events a backend tells ({@linkcode PresenceEvent}), are here too.
 *
 * @module
 */
import { LayerUnavailableError, SwitchboardError } from "../errors.ts";
import type { JsonValue } from "../layers/layer.ts";
import { assertGroupName } from "../layers/names.ts";

/** The meta of one connection: a JSON object (at most {@linkcode MAX_META_BYTES} as JSON). */
export type PresenceMeta = { [key: string]: JsonValue };

/** Presence entries: key → the metas of its connections. */
export type PresenceEntries = Record<string, PresenceMeta[]>;

/**
 * A change of a group's presence. A client applies `leaves` first, then `joins` (a key in both
 * left and came back: its metas are the joined ones). `resync: true` means diffs were lost or
 * too many to send: fetch the full list again.
 */
export interface PresenceDiff {
  /** The group. */
  group: string;
  /** Keys that appeared (their first meta), with the metas they joined with. */
  joins: PresenceEntries;
  /** Keys whose last meta is gone, with the metas they held. */
  leaves: PresenceEntries;
  /** Set when the diffs of this group could not all be delivered: list it again. */
  resync?: true;
}

/** Counts of a group, answered in O(1). */
export interface PresenceStats {
  /** Distinct keys (users). */
  keys: number;
  /** Connections (metas). */
  connections: number;
}

/** A page of a group's entries. */
export interface PresenceList {
  /** Key → metas, at most `limit` keys. */
  entries: PresenceEntries;
  /** True when the group has more keys than were returned. */
  truncated: boolean;
}

/** Told about each diff of a group it subscribed to. */
export type PresenceListener = (diff: PresenceDiff) => void;

/**
 * What a presence backend tells its `onEvent` listeners, synchronously (the backends of the
 * library all have `onEvent`):
 *
 * - `tracked` / `untracked`: a `track` / `untrack` call of this process reached the store (the diff
 *   it made, if any, is published); told before the call resolves, also for an untrack of an entry
 *   that was not there. A call that fails tells nothing.
 * - `synced`: a heartbeat finished: everything this process holds is in the store; `tracked` is how
 *   many entries it had to track again because they were gone (swept after a stall, lost with the
 *   store's data). In memory every heartbeat is one, with `tracked: 0`.
 * - `counts`: the counts of `group` this process keeps changed; `stats` is what `stats(group)`
 *   answers now. In memory: after each change of a group's connections. On NATS: after each change
 *   its watch of a counted group delivers (a group is counted from its first `stats` call on),
 *   whichever process made it. Redis reads the counts on each call: never told there.
 * - `disconnected` / `reconnected`: calls stopped reaching the store (they reject with
 *   {@linkcode PresenceUnavailableError}; `reason` says why) / reach it again. Told on the change
 *   only, and about calls only: watchers learn of gaps in their diffs from `resync` diffs.
 */
export type PresenceEvent =
  | {
    readonly type: "tracked" | "untracked";
    readonly group: string;
    readonly key: string;
    readonly ref: string;
  }
  | { readonly type: "synced"; readonly tracked: number }
  | { readonly type: "counts"; readonly group: string; readonly stats: PresenceStats }
  | { readonly type: "disconnected"; readonly reason: string }
  | { readonly type: "reconnected" };

/**
 * What every presence backend implements. `ref` names one connection (unique across processes,
 * at most {@linkcode MAX_REF_LENGTH} characters, no `|`). Every method answers within a bounded
 * time; a backend that cannot reach its store rejects with {@linkcode PresenceUnavailableError}
 * and keeps what this process tracks, to track it again once the store is back.
 */
export interface PresenceBackend {
  /** Adds (or updates the meta of) connection `ref` under `key` in `group`. */
  track(group: string, key: string, ref: string, meta: PresenceMeta): Promise<void>;
  /** Removes connection `ref` of `key` from `group` (no error if it was not there). */
  untrack(group: string, key: string, ref: string): Promise<void>;
  /** Refreshes everything this process tracks (backends with TTLs also do it on a timer). */
  heartbeat(): Promise<void>;
  /** At most `limit` keys of `group` with their metas (default {@linkcode DEFAULT_LIST_LIMIT}). */
  list(group: string, limit?: number): Promise<PresenceList>;
  /** The counts of `group`, in O(1). */
  stats(group: string): Promise<PresenceStats>;
  /** Calls `listener` with the diffs of `group` (from every process); resolves to the unsubscribe. */
  subscribe(group: string, listener: PresenceListener): Promise<() => Promise<void>>;
  /** Releases every resource; entries this process tracked are removed (or expire). */
  close(): Promise<void>;
  /**
   * Calls `listener` with each {@linkcode PresenceEvent}; returns the function that removes it.
   * Optional: a backend without it tells nothing.
   */
  onEvent?(listener: (event: PresenceEvent) => void): () => void;
}

/** The presence store cannot be reached (a {@linkcode LayerUnavailableError}). */
export class PresenceUnavailableError extends LayerUnavailableError {}

/** A presence key, meta or request is out of bounds. */
export class PresenceLimitError extends SwitchboardError {}

/** Longest presence key, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 256;
/** Longest connection ref. */
export const MAX_REF_LENGTH = 64;
/** Largest meta, as JSON text (UTF-16 code units). */
export const MAX_META_BYTES = 2048;
/** Keys a list answers by default. */
export const DEFAULT_LIST_LIMIT = 1000;
/** Most keys one list may answer. */
export const MAX_LIST_LIMIT = 10_000;

/** Checks a group, key and ref; throws {@linkcode PresenceLimitError} (or `InvalidNameError`). */
export function checkEntry(group: string, key: string, ref: string): void {
  assertGroupName(group);
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new PresenceLimitError(`A presence key must be 1-${MAX_KEY_LENGTH} characters`);
  }
  if (
    typeof ref !== "string" || ref.length === 0 || ref.length > MAX_REF_LENGTH || ref.includes("|")
  ) {
    throw new PresenceLimitError(`A connection ref must be 1-${MAX_REF_LENGTH} characters, no '|'`);
  }
}

/** The JSON text of a meta, checked: an object of at most {@linkcode MAX_META_BYTES}. */
export function metaText(meta: PresenceMeta): string {
  if (meta === null || typeof meta !== "object" || Array.isArray(meta)) {
    throw new PresenceLimitError("A presence meta must be a JSON object");
  }
  const text = JSON.stringify(meta);
  if (text.length > MAX_META_BYTES) {
    throw new PresenceLimitError(`A presence meta is limited to ${MAX_META_BYTES} bytes of JSON`);
  }
  return text;
}

/** A list limit from a caller: a whole number from 1 to {@linkcode MAX_LIST_LIMIT}. */
export function listLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new PresenceLimitError("A presence list limit must be a whole number >= 1");
  }
  return Math.min(limit, MAX_LIST_LIMIT);
}
