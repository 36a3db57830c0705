/**
 * One connection's presence: the groups it is tracked in (one meta per group), the groups whose
 * diff frames it receives, the built-in `presence` request, and the cleanup when it closes.
 * Created on first use (idle connections without presence hold nothing), kept in a WeakMap by
 * consumer instance.
 *
 * @module
 */
import { getLogger } from "../logger.ts";
import { randomToken } from "../layers/names.ts";
import type { AnyMessage } from "../protocol/message.ts";
import { reasonFrame } from "../protocol/error_frames.ts";
import {
  type PresenceBackend,
  PresenceLimitError,
  type PresenceList,
  type PresenceMeta,
  type PresenceStats,
} from "./backend.ts";
import { addDiffSink } from "./feed.ts";
import { PRESENCE_ACTION, type PresenceRequestPayload } from "./frames.ts";
import {
  DEFAULT_DIFF_INTERVAL_MS,
  defaultKey,
  MAX_GROUPS_PER_CONNECTION,
  type PresenceOptions,
  type ResolvedPresence,
  resolvePresence,
} from "./options.ts";
import { presenceBackends } from "./registry.ts";

/** The error reason of a `presence` request for a group the connection is not in. */
export const PRESENCE_REFUSED = "presence_refused";
/** The error reason of a `presence` request over a bound (too many watched groups). */
export const PRESENCE_LIMIT = "presence_limit";

/** What presence needs of a consumer: its groups. */
export interface PresenceHost {
  /** The connection's groups. */
  readonly groups: readonly string[];
}

/** What presence needs of the consumer's connection. */
export interface PresenceSink {
  /** Sends a message to the client. */
  send(message: AnyMessage): Promise<void>;
  /** Sends a frozen message shared by many sockets (serialized once). */
  sendShared?(message: AnyMessage): void;
  /** True once the connection is closing. */
  readonly closed: boolean;
}

const states = new WeakMap<object, ConnectionPresence>();

/** This process's tracked entries: connections tracked per group (for metrics). */
const trackedPerGroup = new Map<string, number>();
let trackedTotal = 0;

function counted(group: string, by: 1 | -1): void {
  const n = (trackedPerGroup.get(group) ?? 0) + by;
  if (n > 0) trackedPerGroup.set(group, n);
  else trackedPerGroup.delete(group);
  trackedTotal += by;
}

/** The presence sizes of this process: groups with a tracked connection, tracked connections. */
export function presenceSizes(): { groups: number; members: number } {
  return { groups: trackedPerGroup.size, members: trackedTotal };
}

/** A connection's presence. */
export class ConnectionPresence {
  /** This connection's ref (unique across processes). */
  readonly ref: string = randomToken(20);
  readonly backend: PresenceBackend;
  readonly options: ResolvedPresence | undefined;
  readonly #host: PresenceHost;
  readonly #sink: PresenceSink;
  readonly #tracked = new Map<string, string>(); // group → key
  readonly #watching = new Map<string, Promise<() => Promise<void>>>();
  #started = false;
  #closed = false;

  constructor(host: PresenceHost, options: ResolvedPresence | undefined, sink: PresenceSink) {
    this.#host = host;
    this.options = options;
    this.#sink = sink;
    this.backend = presenceBackends.get(options?.backend);
  }

  /** The groups this connection is tracked in. */
  get tracked(): string[] {
    return [...this.#tracked.keys()];
  }

  /** Tracks this connection under `key` with `meta` in each of `groups`. */
  async track(key: string, meta: PresenceMeta, groups: readonly string[]): Promise<void> {
    if (this.#closed) return;
    const fresh = groups.filter((g) => !this.#tracked.has(g));
    if (this.#tracked.size + new Set(fresh).size > MAX_GROUPS_PER_CONNECTION) {
      throw new PresenceLimitError(
        `A connection is tracked in at most ${MAX_GROUPS_PER_CONNECTION} groups`,
      );
    }
    for (const group of new Set(groups)) {
      const before = this.#tracked.get(group);
      if (before !== undefined && before !== key) {
        await this.backend.untrack(group, before, this.ref);
      }
      if (before === undefined) counted(group, 1);
      this.#tracked.set(group, key);
      // Watching first: the connection sees its own join. A watch that failed does not keep
      // the entry from being tracked (a backend holds it through an outage).
      let failed: unknown;
      if (this.options?.diffs) await this.watch(group).catch((error) => failed = error);
      await this.backend.track(group, key, this.ref, meta);
      if (failed !== undefined) throw failed;
    }
  }

  /** Stops tracking this connection in `groups` (default: all) and their diffs when automatic. */
  async untrack(groups: readonly string[] = this.tracked): Promise<void> {
    for (const group of groups) {
      const key = this.#tracked.get(group);
      if (key === undefined) continue;
      this.#tracked.delete(group);
      counted(group, -1);
      if (this.options?.diffs) await this.unwatch(group);
      await this.backend.untrack(group, key, this.ref);
    }
  }

  /** Sends this connection the diff frames of `group` (at most one per interval). */
  watch(group: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const known = this.#watching.get(group);
    if (known) return known.then(() => {});
    if (this.#watching.size >= MAX_GROUPS_PER_CONNECTION) {
      return Promise.reject(
        new PresenceLimitError(`A connection watches at most ${MAX_GROUPS_PER_CONNECTION} groups`),
      );
    }
    const sink = this.#sink;
    const write = (frame: AnyMessage) => {
      if (sink.closed) return;
      if (sink.sendShared) sink.sendShared(frame);
      else void sink.send(frame).catch(() => {});
    };
    const interval = this.options?.intervalMs ?? DEFAULT_DIFF_INTERVAL_MS;
    const adding = addDiffSink(this.backend, group, interval, write);
    this.#watching.set(group, adding);
    adding.catch(() => {
      if (this.#watching.get(group) === adding) this.#watching.delete(group);
    });
    return adding.then(() => {});
  }

  /** Stops the diff frames of `group`. */
  async unwatch(group: string): Promise<void> {
    const adding = this.#watching.get(group);
    if (!adding) return;
    this.#watching.delete(group);
    const remove = await adding.catch(() => undefined);
    await remove?.();
  }

  /**
   * Tracks the connection in its groups, after `postAuthentication` (static presence); `subject`
   * is what `key` and `meta` are called with (the consumer, or a topic subscription).
   */
  async start(subject: PresenceHost, groups?: readonly string[]): Promise<void> {
    const o = this.options;
    this.#started = true;
    if (!o?.track) return;
    const where = groups ?? (o.groups ? o.groups(subject) : subject.groups);
    if (where.length === 0) return;
    await this.track(this.#keyOf(subject), o.meta(subject), where);
  }

  /** A group joined after connecting: tracked too when presence is automatic. */
  async joined(consumer: PresenceHost, group: string): Promise<void> {
    const o = this.options;
    if (!this.#started || !o?.track || o.groups || this.#tracked.has(group)) return;
    await this.track(this.#keyOf(consumer), o.meta(consumer), [group]);
  }

  #keyOf(consumer: PresenceHost): string {
    return this.options?.key ? this.options.key(consumer) : defaultKey(consumer, this.ref);
  }

  /** The built-in `presence` request: the list and counts of a group this connection is in. */
  async request(payload: PresenceRequestPayload): Promise<AnyMessage> {
    const group = payload.group ?? this.tracked[0];
    if (group === undefined) {
      return reasonFrame(PRESENCE_REFUSED, "Not tracked in any group: name one");
    }
    if (!this.#tracked.has(group) && !this.#host.groups.includes(group)) {
      return reasonFrame(PRESENCE_REFUSED, `Not a member of group '${group}'`);
    }
    try {
      if (payload.diffs === true) await this.watch(group);
      if (payload.diffs === false) await this.unwatch(group);
    } catch (error) {
      if (!(error instanceof PresenceLimitError)) throw error;
      return reasonFrame(PRESENCE_LIMIT, error.message);
    }
    const [list, stats] = await Promise.all([
      this.backend.list(group, payload.limit),
      this.backend.stats(group),
    ]);
    return { action: PRESENCE_ACTION, payload: { group, ...list, stats } };
  }

  /** The list of `group`. */
  list(group: string, limit?: number): Promise<PresenceList> {
    return this.backend.list(group, limit);
  }

  /** The counts of `group`. */
  stats(group: string): Promise<PresenceStats> {
    return this.backend.stats(group);
  }

  /** Untracks everything and stops every diff feed (failures logged: entries then expire). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const watched = [...this.#watching.keys()];
    await Promise.all(watched.map((g) => this.unwatch(g).catch(logFailure)));
    const tracked = [...this.#tracked];
    this.#tracked.clear();
    for (const [group] of tracked) counted(group, -1);
    await Promise.all(
      tracked.map(([group, key]) => this.backend.untrack(group, key, this.ref).catch(logFailure)),
    );
  }
}

function logFailure(error: unknown): void {
  getLogger().warn("Presence cleanup failed (the entry expires with its TTL)", { error });
}

/** The presence of `consumer`'s connection, made on first use. */
export function presenceOf(
  consumer: PresenceHost,
  options: PresenceOptions | undefined,
  sink: PresenceSink,
): ConnectionPresence {
  let state = states.get(consumer);
  if (!state) {
    const owner = (consumer as { constructor?: { name?: string } }).constructor?.name;
    state = new ConnectionPresence(consumer, resolvePresence(options, owner), sink);
    states.set(consumer, state);
  }
  return state;
}

/** The presence of `consumer` if it has one (without making it). */
export function existingPresence(consumer: object): ConnectionPresence | undefined {
  return states.get(consumer);
}

/**
 * After `postAuthentication`: a class with `static presence` tracks the connection in its groups
 * (failures logged: a Redis backend tracks it again once it is back).
 */
export async function presenceConnected(
  consumer: PresenceHost,
  options: PresenceOptions | undefined,
  sink: PresenceSink,
): Promise<void> {
  if (!options) return;
  try {
    await presenceOf(consumer, options, sink).start(consumer);
  } catch (error) {
    getLogger().warn("Presence: tracking a new connection failed", { error });
  }
}

/**
 * When the connection closes: untracks it and stops its diffs. `undefined` (no step to await)
 * for a connection that never used presence.
 */
export function presenceDisconnected(consumer: object): Promise<void> | undefined {
  const state = states.get(consumer);
  // Kept (closed) in the WeakMap: a late `track()` after the disconnect tracks nothing.
  return state?.close();
}

/** `name` of the hidden handler method the built-in `presence` action runs on a consumer. */
export const PRESENCE_METHOD = "~presence";

/** The handler of the built-in `presence` request (runs as a consumer method). */
export function presenceRequest(
  consumer: PresenceHost,
  options: PresenceOptions | undefined,
  sink: PresenceSink,
  payload: PresenceRequestPayload,
): Promise<AnyMessage> {
  return presenceOf(consumer, options, sink).request(payload);
}
