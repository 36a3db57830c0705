/**
 * Presence on NATS: {@linkcode NatsPresence}. A JetStream KV bucket `SB_<prefix>_presence`
 * holds one entry per group and key (`e.<group>.<key>`, base64url tokens) whose value is
 * `{ref: {m: meta JSON, p: process id}}`, changed with compare-and-set on its revision (so a
 * key's join and leave are decided once, whatever the processes do at the same moment), and one
 * entry per live process (`p.<id>`), put again every `ttlMs / 3`. Diffs travel on core subjects
 * `<prefix>.presence.<group>` (published after the change: at most once).
 *
 * Every process checks the process entries every `ttlMs / 12` against the server's clock (the
 * `created` time of an entry it just wrote): a process whose entry is older than `2/3 · ttlMs`
 * is dead; the entries that still name it are removed (their leaves published) and its entry is
 * deleted. A live process that finds its own entry gone (its loop stalled; it was taken for dead)
 * tracks what it holds again. `onEvent` tells when calls stop and start reaching NATS, when this
 * process's changes landed, when a heartbeat tracked what it holds again and when the counts of a
 * counted group changed (`PresenceEvent`).
 *
 * ```ts ignore
 * import { presenceBackends } from "@switchboard/switchboard";
 * import { NatsPresence } from "@switchboard/switchboard/adapters/nats";
 *
 * presenceBackends.register("default", new NatsPresence({ servers: "nats://127.0.0.1:4222" }));
 * ```
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JetStreamClient, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import {
  checkEntry,
  listLimit,
  metaText,
  type PresenceBackend,
  type PresenceDiff,
  type PresenceEvent,
  type PresenceList,
  type PresenceListener,
  type PresenceMeta,
  type PresenceStats,
  PresenceUnavailableError,
} from "../../src/presence/backend.ts";
import { getLogger } from "../../src/logger.ts";
import { KeyedOrder } from "../../src/presence/keyed_order.ts";
import { PresenceEvents } from "../../src/presence/events.ts";
import { changeEntry } from "./presence_entries.ts";
import { backgroundInterval } from "../../src/layers/kit.ts";
import { NatsLink, type NatsTimeouts, resolveNatsTimeouts } from "./link.ts";
import {
  dec,
  enc,
  type KeyValue,
  parseDiff,
  readEntries,
  token,
  untoken,
} from "./presence_codec.ts";
import {
  type CountedEntry,
  type CountWatch,
  PresenceCounts,
  readCounted,
  watchCounted,
} from "./presence_counts.ts";

/** Options of {@linkcode NatsPresence}. */
export interface NatsPresenceOptions {
  /** Server URLs (default `nats://127.0.0.1:4222`). */
  servers?: string | string[];
  /** Bucket and subject prefix: ASCII letters, digits, `-`, `_` (default `"switchboard"`). */
  prefix?: string;
  /**
   * Milliseconds within which the entries of a process that stopped (SIGKILL, a network split)
   * are removed and their leaves published. Default 30 000, at least 300.
   */
  ttlMs?: number;
  /** Bounded waits on NATS (connect and command timeouts, 5 s each by default). */
  timeouts?: NatsTimeouts;
}

/** Presence on NATS (a JetStream KV bucket, process heartbeats, diffs on core subjects). */
export class NatsPresence implements PresenceBackend {
  /** The eviction bound, in ms. */
  readonly ttlMs: number;
  /** This process's id (its heartbeat entry `p.<id>`). */
  readonly processId: string = crypto.randomUUID().replaceAll("-", "");
  readonly #prefix: string;
  readonly #link: NatsLink;
  readonly #timeoutMs: number;
  #kv: Promise<KV> | undefined;
  #js: JetStreamClient | undefined;
  /** Per-group counts kept from the bucket's changes (O(1) stats). */
  readonly #counts: PresenceCounts;
  readonly #held = new Map<string, Map<string, { key: string; meta: string }>>();
  readonly #listeners = new Map<string, { set: Set<PresenceListener>; stop: () => void }>();
  readonly #stops: Array<() => void> = [];
  /** Each key's changes, in call order (see #change). */
  readonly #queues = new KeyedOrder();
  readonly #events = new PresenceEvents("NATS presence");
  /** NATS came back: the next heartbeat tracks everything held again. */
  #lost = false;
  #closed = false;
  #beating: Promise<void> | undefined;

  /** Creates the backend; it connects on first use. */
  constructor(options: NatsPresenceOptions = {}) {
    this.#prefix = options.prefix ?? "switchboard";
    if (!/^[a-zA-Z0-9\-_]{1,64}$/.test(this.#prefix)) {
      throw new TypeError(`prefix must be 1-64 ASCII letters, digits, '-' or '_'`);
    }
    this.ttlMs = options.ttlMs ?? 30_000;
    if (!Number.isFinite(this.ttlMs) || this.ttlMs < 300) {
      throw new RangeError(`ttlMs must be a number >= 300, got ${options.ttlMs}`);
    }
    const timeouts = resolveNatsTimeouts(options.timeouts);
    this.#timeoutMs = timeouts.commandTimeoutMs;
    this.#counts = new PresenceCounts({
      read: (group) => this.#readCounts(group),
      watch: (group, from) => this.#watchCounts(group, from),
      changed: (group, stats) => this.#events.counts(group, stats),
    }, this.#timeoutMs);
    const servers = [options.servers ?? "nats://127.0.0.1:4222"].flat();
    this.#link = new NatsLink({ servers }, "presence", {
      timeouts,
      hooks: {
        down: (reason) => this.#events.down(reason),
        up: () => {
          this.#events.up();
          // A restarted server may have lost the bucket (it is in memory): make it again and
          // track what this process holds once more.
          this.#kv = undefined;
          this.#lost = true;
          this.#counts.clear();
          for (const group of this.#listeners.keys()) {
            this.#emit(group, { group, joins: {}, leaves: {}, resync: true });
          }
          void this.heartbeat().catch(() => {});
        },
      },
    });
    this.#stops.push(
      backgroundInterval(() => void this.heartbeat().catch(() => {}), this.ttlMs / 3),
      backgroundInterval(() => void this.sweep().catch(() => {}), this.ttlMs / 12),
    );
  }

  #subject(group: string): string {
    return `${this.#prefix}.presence.${token(group)}`;
  }
  #entryKey(group: string, key: string): string {
    return `e.${token(group)}.${token(key)}`;
  }

  async #bucket(): Promise<KV> {
    const nc = await this.#link.open() as unknown as NatsConnection;
    if (!this.#kv) this.#js = jetstream(nc, { timeout: this.#timeoutMs });
    this.#kv ??= new Kvm(this.#js!).create(
      `SB_${this.#prefix}_presence`,
      { history: 1, storage: StorageType.Memory },
    ).then(async (kv) => {
      await kv.put(`p.${this.processId}`, "1");
      return kv;
    }).catch((error) => {
      this.#kv = undefined;
      throw error;
    });
    return await this.#kv;
  }

  /**
   * The keys of the bucket under `filter` (a KV key pattern) from the stream's subject counts
   * (one bounded request; deleted keys come too, as markers, and are skipped on read).
   */
  async #keys(filter: string): Promise<string[]> {
    return (await this.#listing(filter)).names;
  }

  /** {@linkcode #keys} and the stream's last sequence when they were listed. */
  async #listing(filter: string): Promise<{ names: string[]; last: number }> {
    const nc = await this.#link.open() as unknown as NatsConnection;
    const jsm = await jetstreamManager(nc, { timeout: this.#timeoutMs });
    const info = await jsm.streams.info(`KV_SB_${this.#prefix}_presence`, {
      subjects_filter: this.#subjectBase + filter,
    });
    const names = Object.keys(info.state.subjects ?? {}).map((subject) =>
      subject.slice(this.#subjectBase.length)
    );
    return { names, last: info.state.last_seq };
  }

  get #subjectBase(): string {
    return `$KV.SB_${this.#prefix}_presence.`;
  }

  /** Every entry of `group` with its revision (the first read of its counts). */
  async #readCounts(group: string): Promise<{ last: number; entries: CountedEntry[] }> {
    const kv = await this.#bucket();
    const { names, last } = await this.#listing(`e.${token(group)}.*`);
    return { last, entries: await readCounted(kv, names) };
  }

  /** The changes of `group`'s entries from stream sequence `from` on. */
  async #watchCounts(group: string, from: number): Promise<CountWatch> {
    return watchCounted(await this.#bucket(), `e.${token(group)}.*`, from);
  }

  async #run<T>(what: string, fn: (kv: KV) => Promise<T>): Promise<T> {
    if (this.#closed) throw new PresenceUnavailableError("The NATS presence backend is closed");
    try {
      const result = await fn(await this.#bucket());
      this.#events.up();
      return result;
    } catch (error) {
      this.#events.down(String((error as Error)?.message ?? error));
      if (/not found|10059|no responders/i.test(String((error as Error)?.message ?? error))) {
        this.#kv = undefined; // the bucket is gone: made again on the next call
        this.#lost = true;
        this.#counts.clear();
      }
      if (error instanceof PresenceUnavailableError) throw error;
      throw new PresenceUnavailableError(
        `Presence ${what} failed: NATS is unavailable (${(error as Error)?.message ?? error})`,
        { cause: error },
      );
    }
  }

  /**
   * Changes one key's entry with compare-and-set (`presence_entries.ts`); returns the value
   * before and after. The changes of one key made by this process run one after another, in
   * call order (an untrack issued right after its track must not overtake it).
   */
  #change(
    kv: KV,
    group: string,
    key: string,
    edit: (value: KeyValue) => boolean,
  ): Promise<{ before: KeyValue; after: KeyValue } | undefined> {
    const name = this.#entryKey(group, key);
    return this.#queues.run(name, () =>
      changeEntry({
        kv,
        js: this.#js!,
        name,
        subject: this.#subjectBase + name,
        wrote: (revision) => this.#counts.wrote(group, revision),
        label: `${group}/${key}`,
      }, edit));
  }

  #publish(group: string, key: string, kind: "j" | "l", meta: string): void {
    try {
      this.#link.connection.publish(
        this.#subject(group),
        enc.encode(JSON.stringify({ [kind]: { [key]: [meta] } })),
      );
    } catch (error) {
      getLogger().warn("Presence: a diff could not be published", { error });
    }
  }

  async #track(kv: KV, group: string, key: string, ref: string, meta: string): Promise<void> {
    const changed = await this.#change(kv, group, key, (v) => {
      v[ref] = { m: meta, p: this.processId };
      return true;
    });
    if (changed && Object.keys(changed.before).length === 0) {
      this.#publish(group, key, "j", meta);
    }
  }

  /** Tracks `ref`; held locally first, so a failure (typed) is tracked again once NATS is back. */
  track(group: string, key: string, ref: string, meta: PresenceMeta): Promise<void> {
    try {
      checkEntry(group, key, ref);
      const text = metaText(meta);
      let refs = this.#held.get(group);
      if (!refs) this.#held.set(group, refs = new Map());
      refs.set(ref, { key, meta: text });
      return this.#run("track", (kv) => this.#track(kv, group, key, ref, text))
        .then(() => this.#events.changed("tracked", group, key, ref));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #untrack(kv: KV, group: string, key: string, ref: string): Promise<void> {
    let meta = "{}";
    const changed = await this.#change(kv, group, key, (v) => {
      if (!v[ref]) return false;
      meta = v[ref].m;
      delete v[ref];
      return true;
    });
    if (changed && Object.keys(changed.after).length === 0) this.#publish(group, key, "l", meta);
  }

  /** Untracks `ref` (if NATS is away, its entry goes with this process's heartbeat). */
  untrack(group: string, key: string, ref: string): Promise<void> {
    try {
      checkEntry(group, key, ref);
      const refs = this.#held.get(group);
      refs?.delete(ref);
      if (refs?.size === 0) this.#held.delete(group);
      return this.#run("untrack", (kv) => this.#untrack(kv, group, key, ref))
        .then(() => this.#events.changed("untracked", group, key, ref));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Puts this process's heartbeat entry; if it was gone (taken for dead), tracks all again. */
  heartbeat(): Promise<void> {
    this.#beating ??= this.#beat().finally(() => this.#beating = undefined);
    return this.#beating;
  }

  async #beat(): Promise<void> {
    if (this.#closed) return;
    let tracked = 0;
    await this.#run("heartbeat", async (kv) => {
      const name = `p.${this.processId}`;
      const got = await kv.get(name);
      await kv.put(name, "1");
      if (got && got.operation === "PUT" && !this.#lost) return;
      this.#lost = false;
      for (const [group, refs] of [...this.#held]) {
        for (const [ref, h] of [...refs]) {
          await this.#track(kv, group, h.key, ref, h.meta);
          tracked++;
        }
      }
    });
    this.#events.synced(tracked);
  }

  /** Calls `listener` with each {@linkcode PresenceEvent}; returns the function that removes it. */
  onEvent(listener: (event: PresenceEvent) => void): () => void {
    return this.#events.listen(listener);
  }

  /**
   * Finds dead processes (heartbeat older than `2/3 · ttlMs` by the server's clock), removes the
   * entries that name them (publishing leaves) and their heartbeat entries. Returns the
   * connections removed.
   */
  sweep(): Promise<number> {
    if (this.#closed) return Promise.resolve(0);
    return this.#run("sweep", async (kv) => {
      await kv.put("clock", "1");
      const now = (await kv.get("clock"))!.created.getTime();
      const dead = new Map<string, number>();
      for (const name of await this.#keys("p.*")) {
        const got = await kv.get(name);
        if (!got || got.operation !== "PUT") continue;
        if (now - got.created.getTime() > (this.ttlMs * 2) / 3) {
          dead.set(name.slice(2), got.revision);
        }
      }
      if (dead.size === 0) return 0;
      let removed = 0;
      for (const name of await this.#keys("e.>")) {
        const [, g, k] = name.split(".");
        const group = untoken(g), key = untoken(k);
        let left: string | undefined;
        const changed = await this.#change(kv, group, key, (v) => {
          let any = false;
          for (const [ref, c] of Object.entries(v)) {
            if (!dead.has(c.p)) continue;
            left ??= c.m;
            delete v[ref];
            removed++;
            any = true;
          }
          return any;
        });
        if (changed && Object.keys(changed.after).length === 0 && left !== undefined) {
          this.#publish(group, key, "l", left);
        }
      }
      for (const [id, revision] of dead) {
        await kv.delete(`p.${id}`, { previousSeq: revision }).catch(() => {});
      }
      return removed;
    });
  }

  /** At most `limit` keys of `group` (reads each key's entry). */
  async list(group: string, limit?: number): Promise<PresenceList> {
    const max = listLimit(limit); // a bad limit rejects
    return await this.#run(
      "list",
      async (kv) => readEntries(kv, await this.#keys(`e.${token(group)}.*`), max),
    );
  }

  /**
   * Keys and connections of `group`: O(1), from counts kept by a watch of the group's entries
   * (the first call reads them once; see `presence_counts.ts`). Reflects this process's own
   * changes at once, other processes' within a watch message.
   */
  stats(group: string): Promise<PresenceStats> {
    return this.#run("stats", () => this.#counts.stats(group));
  }

  /** Listens to `group`'s diffs from every process (one core subscription per group). */
  async subscribe(group: string, listener: PresenceListener): Promise<() => Promise<void>> {
    if (this.#closed) throw new PresenceUnavailableError("The NATS presence backend is closed");
    let entry = this.#listeners.get(group);
    if (!entry) {
      await this.#run("subscribe", async () => {
        const sub = this.#link.connection.subscribe(this.#subject(group), {
          callback: (error, msg) => {
            if (!error) this.#deliver(group, dec.decode(msg.data));
          },
        });
        this.#listeners.set(group, entry = { set: new Set(), stop: () => sub.unsubscribe() });
        await this.#link.confirm(`subscribing to ${group}`);
      });
    }
    const current = this.#listeners.get(group)!;
    current.set.add(listener);
    return () => {
      current.set.delete(listener);
      if (current.set.size === 0 && this.#listeners.get(group) === current) {
        this.#listeners.delete(group);
        current.stop();
      }
      return Promise.resolve();
    };
  }

  #deliver(group: string, text: string): void {
    const diff = parseDiff(group, text);
    if (diff) this.#emit(group, diff);
  }

  #emit(group: string, diff: PresenceDiff): void {
    for (const listener of this.#listeners.get(group)?.set ?? []) {
      try {
        listener(diff);
      } catch (error) {
        getLogger().error("Presence listener threw", { error });
      }
    }
  }

  /** Untracks what this process holds, deletes its heartbeat entry, closes its connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const stop of this.#stops) stop();
    await this.#beating?.catch(() => {});
    const held = [...this.#held].flatMap(([g, refs]) => [...refs].map(([r, h]) => [g, h.key, r]));
    if (this.#kv) {
      for (const [g, k, r] of held) await this.untrack(g, k, r).catch(() => {});
      await this.#kv.then((kv) => kv.delete(`p.${this.processId}`)).catch(() => {});
    }
    this.#closed = true;
    this.#events.clear();
    this.#counts.clear();
    for (const { stop } of this.#listeners.values()) stop();
    this.#listeners.clear();
    await this.#link.close();
  }
}
