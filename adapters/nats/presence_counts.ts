/**
 * O(1) `presenceStats` of the NATS presence backend: per group, counts of keys and connections
 * kept from the bucket's own change stream (a KV watch of the group's entries, `e.<group>.*`,
 * an ordered consumer: every change arrives, in stream order).
 *
 * A group's counts start on its first stats call: its entries are read once (O(keys)) with the
 * stream's last sequence `L` at the moment of the listing, then the watch starts at `L + 1`.
 * Each entry is counted at the highest revision that brought it (the read or the watch), and the
 * first stats call waits until the watch reached every revision the read saw. From then on a
 * stats call reads two numbers. A stats call after this process changed the group waits
 * (bounded) until the watch delivered that change (read-your-writes: a change at or below `L`
 * was in the read); changes of other processes show once their watch message arrives
 * (milliseconds). At most {@linkcode MAX_COUNTED_GROUPS} groups are counted per process (the
 * least recently asked stops first); a watch that ends (an outage) drops its counts, made again
 * on the next call. Once a group's first stats call is answered, every change of its counts the
 * watch brings is told to {@linkcode CountSource.changed} (the backend's `counts` event).
 *
 * @module
 */

import type { KV, KvEntry } from "@nats-io/kv";
import type { KeyValue } from "./presence_codec.ts";

/** Most groups one process keeps counts of. */
export const MAX_COUNTED_GROUPS = 256;

/** One entry's state: its revision (stream sequence) and connection count (0 = no entry). */
export interface CountedEntry {
  /** The KV key (`e.<group>.<key>`). */
  name: string;
  /** Its stream sequence. */
  revision: number;
  /** Its connections (0 when deleted). */
  connections: number;
}

/** A running watch of one group's entries. */
export interface CountWatch {
  /** The changes, in stream order; ends when the watch stops or fails. */
  changes: AsyncIterable<CountedEntry>;
  /** Stops the watch. */
  stop(): void;
}

/** Where the counts come from (the backend's bucket). */
export interface CountSource {
  /** Reads every entry of the group, and the stream's last sequence when they were listed. */
  read(group: string): Promise<{ last: number; entries: CountedEntry[] }>;
  /** Watches the group's entries from stream sequence `from` on. */
  watch(group: string, from: number): Promise<CountWatch>;
  /** The counts of a group changed (after its first stats call was answered). */
  changed?(group: string, stats: { keys: number; connections: number }): void;
}

/** The counts of one group. */
class GroupCounts {
  keys = 0;
  connections = 0;
  /** Every change up to this revision is counted (the read's `L`, then the watch's). */
  seen = 0;
  /** The highest revision this process wrote in the group. */
  wrote = 0;
  /** Resolves once the read is counted and the watch reached what it saw. */
  ready: Promise<void> = Promise.resolve();
  stop: () => void = () => {};
  /** Live entries, and deleted ones the read saw that the watch has not reached yet. */
  #entries = new Map<string, { revision: number; connections: number }>();
  #waiters: Array<{ revision: number; resolve: () => void }> = [];

  /** Counts `e` at its revision unless the same or a newer one of the entry was counted. */
  #apply(e: CountedEntry, keepDeleted: boolean): void {
    const before = this.#entries.get(e.name);
    if (before && before.revision >= e.revision) {
      // The watch reached a deletion the read saw: nothing older can come any more.
      if (before.revision === e.revision && before.connections === 0) this.#entries.delete(e.name);
      return;
    }
    const old = before?.connections ?? 0;
    this.connections += e.connections - old;
    this.keys += (e.connections > 0 ? 1 : 0) - (old > 0 ? 1 : 0);
    if (e.connections > 0 || keepDeleted) {
      this.#entries.set(e.name, { revision: e.revision, connections: e.connections });
    } else {
      this.#entries.delete(e.name);
    }
  }

  /** The read: entries at their revisions, everything up to `last` included. */
  read(last: number, entries: CountedEntry[]): number {
    let highest = last;
    for (const e of entries) {
      // A deletion above `last` is kept until the watch reaches it (it brings older changes).
      this.#apply(e, e.revision > last);
      if (e.revision > highest) highest = e.revision;
    }
    this.seen = last;
    return highest;
  }

  /** A change from the watch (in stream order). */
  watched(e: CountedEntry): void {
    this.#apply(e, false);
    if (e.revision > this.seen) this.seen = e.revision;
    this.#waiters = this.#waiters.filter((w) => {
      if (w.revision > this.seen) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves true once the watch delivered `revision`, false after `timeoutMs`. */
  until(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.seen >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = {
        revision,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.#waiters.push(waiter);
    });
  }
}

/** The counted groups of one backend (see the module documentation). */
export class PresenceCounts {
  readonly #source: CountSource;
  readonly #waitMs: number;
  readonly #groups = new Map<string, GroupCounts>();

  /** Counts from `source`; a read-your-writes wait gives up after `waitMs`. */
  constructor(source: CountSource, waitMs: number) {
    this.#source = source;
    this.#waitMs = waitMs;
  }

  /** This process wrote revision `revision` of an entry of `group`. */
  wrote(group: string, revision: number): void {
    const counts = this.#groups.get(group);
    if (counts && revision > counts.wrote) counts.wrote = revision;
  }

  /** Keys and connections of `group` (O(1) once counted). */
  async stats(group: string): Promise<{ keys: number; connections: number }> {
    let counts = this.#get(group);
    await counts.ready;
    if (counts.seen < counts.wrote && !(await counts.until(counts.wrote, this.#waitMs))) {
      this.#drop(group, counts); // the watch fell behind: count afresh
      counts = this.#get(group);
      await counts.ready;
    }
    return { keys: counts.keys, connections: counts.connections };
  }

  /** Stops every watch (the bucket may be gone: an outage, a restarted server). */
  clear(): void {
    for (const [group, counts] of [...this.#groups]) this.#drop(group, counts);
  }

  #get(group: string): GroupCounts {
    const known = this.#groups.get(group);
    if (known) {
      this.#groups.delete(group); // most recently asked last
      this.#groups.set(group, known);
      return known;
    }
    const counts = new GroupCounts();
    this.#groups.set(group, counts);
    if (this.#groups.size > MAX_COUNTED_GROUPS) {
      const [oldest, its] = this.#groups.entries().next().value!;
      this.#drop(oldest, its);
    }
    counts.ready = this.#start(group, counts);
    counts.ready.catch(() => this.#drop(group, counts));
    return counts;
  }

  async #start(group: string, counts: GroupCounts): Promise<void> {
    const { last, entries } = await this.#source.read(group);
    const highest = counts.read(last, entries);
    const watch = await this.#source.watch(group, last + 1);
    counts.stop = () => watch.stop();
    if (this.#groups.get(group) !== counts) return watch.stop();
    let live = false;
    void (async () => {
      try {
        for await (const e of watch.changes) {
          const { keys, connections } = counts;
          counts.watched(e);
          if (live && (keys !== counts.keys || connections !== counts.connections)) {
            this.#source.changed?.(group, { keys: counts.keys, connections: counts.connections });
          }
        }
      } catch {
        // ended by an error: dropped below
      }
      this.#drop(group, counts);
    })();
    if (!(await counts.until(highest, this.#waitMs))) {
      throw new Error(`the presence counts of ${group} did not catch up`);
    }
    live = true;
  }

  #drop(group: string, counts: GroupCounts): void {
    if (this.#groups.get(group) === counts) this.#groups.delete(group);
    counts.stop();
  }
}

/** An entry as the counts see it: its connections (0 once deleted) at its revision. */
export function counted(e: KvEntry): CountedEntry {
  let connections = 0;
  if (e.operation === "PUT") {
    try {
      connections = Object.keys(e.json<KeyValue>()).length;
    } catch {
      connections = 0; // not an entry of ours: not counted
    }
  }
  return { name: e.key, revision: e.revision, connections };
}

/** The entries `names` of `kv` at their current revisions (100 gets at a time). */
export async function readCounted(kv: KV, names: string[]): Promise<CountedEntry[]> {
  const entries: CountedEntry[] = [];
  for (let i = 0; i < names.length; i += 100) {
    for (const got of await Promise.all(names.slice(i, i + 100).map((n) => kv.get(n)))) {
      if (got) entries.push(counted(got));
    }
  }
  return entries;
}

/** A watch of the entries under `key` (a KV key pattern) from stream sequence `from` on. */
export async function watchCounted(kv: KV, key: string, from: number): Promise<CountWatch> {
  const iter = await kv.watch({ key, resumeFromRevision: from });
  return {
    changes: (async function* () {
      for await (const e of iter) yield counted(e);
    })(),
    stop: () => iter.stop(),
  };
}
