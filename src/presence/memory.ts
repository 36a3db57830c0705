/**
 * The in-memory presence backend: one process, no TTL (a connection's entries go when it
 * untracks, which the connection does when it closes). The default of the presence registry,
 * next to the in-memory channel layer.
 *
 * @module
 */
import { ClosedError } from "../errors.ts";
import { getLogger } from "../logger.ts";
import { PresenceEvents } from "./events.ts";
import {
  checkEntry,
  listLimit,
  metaText,
  type PresenceBackend,
  type PresenceEntries,
  type PresenceEvent,
  type PresenceList,
  type PresenceListener,
  type PresenceMeta,
  type PresenceStats,
} from "./backend.ts";

interface Group {
  /** key → ref → meta (frozen copies). */
  keys: Map<string, Map<string, PresenceMeta>>;
  connections: number;
}

/** Presence in this process's memory. */
export class InMemoryPresence implements PresenceBackend {
  readonly #groups = new Map<string, Group>();
  readonly #listeners = new Map<string, Set<PresenceListener>>();
  readonly #events = new PresenceEvents("In-memory presence");
  #closed = false;

  #open(): void {
    if (this.#closed) throw new ClosedError("The in-memory presence backend is closed");
  }

  /** Adds (or updates) connection `ref` of `key` in `group`; the key's first meta emits a join. */
  track(group: string, key: string, ref: string, meta: PresenceMeta): Promise<void> {
    try {
      this.#open();
      checkEntry(group, key, ref);
      const copy = Object.freeze(JSON.parse(metaText(meta))) as PresenceMeta;
      let g = this.#groups.get(group);
      if (!g) this.#groups.set(group, g = { keys: new Map(), connections: 0 });
      let metas = g.keys.get(key);
      const joined = !metas;
      if (!metas) g.keys.set(key, metas = new Map());
      const added = !metas.has(ref);
      if (added) g.connections++;
      metas.set(ref, copy);
      if (joined) this.#emit({ group, joins: { [key]: [copy] }, leaves: {} });
      this.#events.changed("tracked", group, key, ref);
      if (added) this.#events.counts(group, { keys: g.keys.size, connections: g.connections });
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Removes connection `ref` of `key`; the key's last meta emits a leave. */
  untrack(group: string, key: string, ref: string): Promise<void> {
    try {
      this.#open();
      checkEntry(group, key, ref);
      const g = this.#groups.get(group);
      const metas = g?.keys.get(key);
      const meta = metas?.get(ref);
      if (!g || !metas || !meta) {
        this.#events.changed("untracked", group, key, ref);
        return Promise.resolve();
      }
      metas.delete(ref);
      g.connections--;
      if (metas.size === 0) {
        g.keys.delete(key);
        if (g.keys.size === 0) this.#groups.delete(group);
        this.#emit({ group, joins: {}, leaves: { [key]: [meta] } });
      }
      this.#events.changed("untracked", group, key, ref);
      this.#events.counts(group, { keys: g.keys.size, connections: g.connections });
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Nothing to refresh in memory: tells `synced` (`tracked: 0`). */
  heartbeat(): Promise<void> {
    if (!this.#closed) this.#events.synced(0);
    return Promise.resolve();
  }

  /** Calls `listener` with each {@linkcode PresenceEvent}; returns the function that removes it. */
  onEvent(listener: (event: PresenceEvent) => void): () => void {
    return this.#events.listen(listener);
  }

  /** At most `limit` keys of `group`, in the order they joined. */
  list(group: string, limit?: number): Promise<PresenceList> {
    try {
      this.#open();
      const max = listLimit(limit);
      const entries: PresenceEntries = {};
      let n = 0;
      const keys = this.#groups.get(group)?.keys ?? new Map();
      for (const [key, metas] of keys) {
        if (n++ === max) return Promise.resolve({ entries, truncated: true });
        entries[key] = [...metas.values()];
      }
      return Promise.resolve({ entries, truncated: false });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Counts of `group`. */
  stats(group: string): Promise<PresenceStats> {
    const g = this.#groups.get(group);
    return Promise.resolve({ keys: g?.keys.size ?? 0, connections: g?.connections ?? 0 });
  }

  /** Listens to the diffs of `group`. */
  subscribe(group: string, listener: PresenceListener): Promise<() => Promise<void>> {
    if (this.#closed) return Promise.reject(new ClosedError("The presence backend is closed"));
    let set = this.#listeners.get(group);
    if (!set) this.#listeners.set(group, set = new Set());
    set.add(listener);
    return Promise.resolve(() => {
      set.delete(listener);
      if (set.size === 0 && this.#listeners.get(group) === set) this.#listeners.delete(group);
      return Promise.resolve();
    });
  }

  #emit(diff: { group: string; joins: PresenceEntries; leaves: PresenceEntries }): void {
    const set = this.#listeners.get(diff.group);
    if (!set) return;
    for (const listener of set) {
      try {
        listener(diff);
      } catch (error) {
        getLogger().error("Presence listener threw", { error });
      }
    }
  }

  /** Groups that have entries (for tests and introspection). */
  get groupCount(): number {
    return this.#groups.size;
  }

  /** Forgets everything. */
  close(): Promise<void> {
    this.#closed = true;
    this.#groups.clear();
    this.#listeners.clear();
    this.#events.clear();
    return Promise.resolve();
  }
}
