/**
 * The `static presence` option of a consumer class, resolved with its defaults.
 *
 * @module
 */
import { DefinitionError } from "../errors.ts";
import type { PresenceMeta } from "./backend.ts";

/**
 * Presence for a consumer class: `static presence = {key: (c) => c.userId, diffs: true}`.
 * Connections are then tracked, after `postAuthentication`, in every group they are in (and in
 * the groups they join later, until they leave them); clients may send the built-in `presence`
 * request. Without `static presence`, `this.track(key, meta)` still tracks a connection.
 */
// deno-lint-ignore no-explicit-any
export interface PresenceOptions<C = any> {
  /** The presence backend alias (default `"default"`: in memory, or what was registered). */
  backend?: string;
  /**
   * The key of a connection (default: the consumer's `userId`, else its `user.id`, else one key
   * per connection). For a topic, it is called with the topic instance (`t.consumer` is the host).
   */
  key?: (consumer: C) => string;
  /** The meta of a connection (default `{}`), at most 2048 bytes as JSON. */
  meta?: (consumer: C) => PresenceMeta;
  /** Which groups to track it in (default: all its groups after `postAuthentication`). */
  groups?: (consumer: C) => readonly string[];
  /** Track connections on connect (default true); false: only `this.track()` tracks. */
  track?: boolean;
  /** Send every tracked connection the diff frames of its groups (default false). */
  diffs?: boolean;
  /** At most one diff frame per group and socket per this many ms (default 250, at least 10). */
  intervalMs?: number;
}

/** The default diff interval, in ms. */
export const DEFAULT_DIFF_INTERVAL_MS = 250;
/** Most groups one connection may be tracked in, and watch diffs of. */
export const MAX_GROUPS_PER_CONNECTION = 32;

/** {@linkcode PresenceOptions} with the defaults filled in. */
export interface ResolvedPresence {
  backend: string | undefined;
  key: ((consumer: unknown) => string) | undefined;
  meta: (consumer: unknown) => PresenceMeta;
  groups: ((consumer: unknown) => readonly string[]) | undefined;
  track: boolean;
  diffs: boolean;
  intervalMs: number;
}

const resolved = new WeakMap<object, ResolvedPresence>();

/** The resolved options (cached per options object); `undefined` without them. */
export function resolvePresence(
  options: PresenceOptions | undefined,
  owner = "consumer",
): ResolvedPresence | undefined {
  if (options === undefined || options === null) return undefined;
  const known = resolved.get(options);
  if (known) return known;
  if (typeof options !== "object") {
    throw new DefinitionError(`${owner}.presence must be an object`);
  }
  const intervalMs = options.intervalMs ?? DEFAULT_DIFF_INTERVAL_MS;
  if (!Number.isFinite(intervalMs) || intervalMs < 10) {
    throw new DefinitionError(`${owner}.presence.intervalMs must be a number >= 10`);
  }
  const r: ResolvedPresence = {
    backend: options.backend,
    key: options.key,
    meta: options.meta ?? (() => ({})),
    groups: options.groups,
    track: options.track ?? true,
    diffs: options.diffs ?? false,
    intervalMs,
  };
  resolved.set(options, r);
  return r;
}

interface Identified {
  userId?: unknown;
  user?: { id?: unknown };
}

/**
 * The default key: `userId`, else `user.id` (of a topic subscription's host consumer too), else
 * `fallback` (one key per connection).
 */
export function defaultKey(subject: unknown, fallback: string): string {
  const c = subject as Identified & { consumer?: Identified } | null;
  const id = c?.userId ?? c?.user?.id ?? c?.consumer?.userId ?? c?.consumer?.user?.id;
  return id === undefined || id === null ? fallback : String(id);
}
