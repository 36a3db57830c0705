/**
 * The Redis queue channel layer: messages wait in Redis sorted sets until read.
 *
 * Key layout (prefix `p`, default `switchboard`):
 * - `p:q:<channel>`: the queue of a normal channel (score = send time in epoch ms, Redis time);
 * - `p:q:<owner>!`: the inbox of one process (all its process-local channels `<owner>!x`), each
 *   entry listing the channels it is for, so a group send stores one entry per process;
 * - `p:group:<group>`: group members (score = Redis time of the last `groupAdd` or renewal).
 *
 * The layer owns exactly these two namespaces: `flush()` deletes nothing else under the prefix.
 *
 * Entries are `<20-char header><JSON array of target channels>\n<payload>` (see `scripts.ts`).
 *
 * @module
 */
import { stopOf } from "../../src/abort.ts";
import {
  assertChannelName,
  assertGroupName,
  capacityLookup,
  type CapacityOptions,
  ChannelFull,
  type ChannelLayer,
  ClosedError,
  isProcessLocal,
  type LayerEvent,
  type LayerMessage,
  nonLocalName,
  randomToken,
  type ReceiveOptions,
  type ReceiveSink,
} from "../../src/layers/kit.ts";
import { deepFreeze, type DropListener } from "../../src/layers/mailbox.ts";
import {
  type BackoffOptions,
  type RedisHost,
  type RedisTimeouts,
  resolveTimeouts,
  unavailable,
} from "./redis_client.ts";
import type { RedisClusterOptions } from "./cluster_client.ts";
import { DELIVER, GROUP_ADD, GROUP_MEMBERS } from "./scripts.ts";
import { dispatchEntry, unlinkMatching, WriteOrder } from "./queue_entries.ts";
import { groupSend, type GroupSendContext, groupSendReady, luaRules } from "./queue_group_send.ts";
import { jsonSerializer } from "../../src/layers/kit.ts";
import { backgroundInterval } from "../../src/layers/kit.ts";
import { HeldGroups } from "./held_groups.ts";
import { HostReader, type ReaderHost } from "./queue_reader.ts";
import { type Shard as BaseShard, ShardedLayer } from "./sharded_layer.ts";
import type {
  HistoryCapability,
  HistoryOptions,
  HistoryRead,
  HistoryReadOptions,
  StreamPosition,
} from "../../src/layers/history.ts";
import { RedisHistories } from "./history.ts";
import { HISTORY_KEY } from "../../src/layers/history.ts";
import { clusterQueueKey, ownerTag } from "./cluster_keys.ts";
import { ClusterClient } from "./cluster_client.ts";
import type { RedisClientLike } from "./redis_client.ts";

/** Options of {@linkcode RedisQueueChannelLayer}. */
export interface RedisQueueChannelLayerOptions extends CapacityOptions {
  /** One Redis URL (default `redis://127.0.0.1:6379`). Use `hosts` for several. */
  url?: string;
  /** Several Redis hosts (URLs or node-redis clients); names are sharded over them. */
  hosts?: RedisHost[];
  /**
   * A Redis Cluster instead of `url` / `hosts`: every key carries a hash tag (a process's inboxes
   * share one, each normal channel and group has its own), so each script touches one slot.
   */
  cluster?: RedisClusterOptions;
  /** Prefix of every Redis key. Default `"switchboard"`. */
  prefix?: string;
  /** Seconds a message may wait (in Redis or in the process) before it is dropped. Default 60. */
  expiry?: number;
  /**
   * Seconds a group membership outlives the instance that added it. Default 86400. A live
   * instance renews its memberships (every third of this) and restores them after Redis lost
   * them, so they last until `groupDiscard` however long the connection stays open.
   */
  groupExpiry?: number;
  /**
   * Unread entries a process inbox may hold (all process-local channels of one process and
   * prefix) before a direct send to one of them throws `ChannelFull`. Default 10000. The inbox
   * is drained at once by a live process; per-channel `capacity` then bounds each local mailbox.
   */
  inboxCapacity?: number;
  /** AES-GCM key strings; the first encrypts, all are tried to decrypt. Default: plain JSON. */
  encryptionKeys?: string[];
  /** Reconnect backoff of the connections the layer opens from URLs. */
  backoff?: BackoffOptions;
  /** Connect and command timeouts (default 5 s each; see `RedisTimeouts`). */
  timeouts?: RedisTimeouts;
  /** Entries popped per round trip by the reader. Default 128. */
  readBatch?: number;
  /** Called for every message dropped in this process (full mailbox, expired, undecodable). */
  onDrop?: DropListener;
}

interface Shard extends BaseShard {
  reader: HostReader;
  /** The renewal or restore of held memberships on this host that is running, if any. */
  restoring?: Promise<void>;
}

/** How long a resync waits for the other hosts' command connections before it is signalled. */
const RESYNC_WAIT_MS = 5_000;

/**
 * A channel layer over Redis sorted sets (persistent until expiry, capacity enforced in Redis).
 *
 * - A direct send to a normal channel throws `ChannelFull` when its queue holds `capacity`
 *   messages (atomically, in Lua). A send to a process-local channel of this same instance goes
 *   straight to its bounded mailbox and throws `ChannelFull` when it is full, as in memory; a
 *   send to another process's channel throws when that process's inbox holds `inboxCapacity`
 *   unread entries (it is gone or stalled), and otherwise the receiving process drops what
 *   overflows the channel's mailbox, counted in `dropped.full`, logged and reported to `onDrop`.
 *   Group sends skip full destinations and log them.
 * - Sends and group sends of one instance reach Redis in call order, also with
 *   `encryptionKeys` (encryption runs in parallel, the writes are issued in order).
 * - One long-lived reader per host and process (`queue_reader.ts`) pops entries into local
 *   mailboxes; `receive()` only waits on a mailbox, so aborting it loses nothing. Normal channels
 *   are read on demand.
 * - Every score, trim and expiry uses the Redis server's clock (`TIME` in the scripts), so a
 *   process whose clock is off neither loses its messages nor deletes others'.
 * - Group memberships this instance added are renewed every third of `groupExpiry` while it
 *   lives and restored after its connection comes back (a Redis restarted without its data):
 *   a membership ends with `groupDiscard`, or `groupExpiry` after its process is gone.
 * - When a reader reconnects to a Redis server that restarted (its `run_id` changed), queued
 *   messages may be gone: once memberships are restored and sending works again, the layer
 *   delivers `{type: "switchboard.resync"}` into every local channel and emits `resync`. On a
 *   Redis Cluster, any read failure counts (it may have been a failover).
 */
export class RedisQueueChannelLayer implements ChannelLayer, HistoryCapability {
  /** Optional features. */
  readonly extensions: readonly string[] = ["groups", "flush", "history"];
  /** The Redis key prefix. */
  readonly prefix: string;
  /** Message expiry in seconds. */
  readonly expiry: number;
  /** Seconds a membership outlives the process that added it (renewed while it lives). */
  readonly groupExpiry: number;
  readonly #expiryMs: number;
  readonly #groupExpiryMs: number;
  readonly #inboxCapacity: number;
  readonly #capacity: (name: string) => number;
  readonly #groupSendContext: GroupSendContext<Shard>;
  readonly #readBatch: string;
  readonly #s: ShardedLayer<Shard>;
  /** Group histories on Redis Streams (history.ts). */
  readonly #histories: RedisHistories;
  readonly #senderToken = randomToken(8);
  #seq = 0;
  readonly #held = new HeldGroups();
  #stopRenewal: (() => void) | undefined;
  /** Normal channels that receivers wait on. */
  #demand = new Set<string>();
  /** Set while flush() runs: readers pause so nothing popped before it survives it. */
  #flushGate: Promise<void> | undefined;
  /** One instance's writes reach Redis in call order. */
  readonly #order = new WriteOrder();
  /** True on a Redis Cluster (hash-tagged keys, see `cluster_keys.ts`). */
  readonly #cluster: boolean;

  /** Creates a layer; it connects on first use or on {@linkcode connect}. */
  constructor(options: RedisQueueChannelLayerOptions = {}) {
    this.expiry = options.expiry ?? 60;
    this.groupExpiry = options.groupExpiry ?? 86400;
    this.#expiryMs = Math.max(1, Math.round(this.expiry * 1000));
    this.#groupExpiryMs = Math.max(1, Math.round(this.groupExpiry * 1000));
    this.#inboxCapacity = options.inboxCapacity ?? 10_000;
    this.#capacity = capacityLookup(options);
    this.#readBatch = String(options.readBatch ?? 128);
    this.#cluster = options.cluster !== undefined;
    this.#s = new ShardedLayer<Shard>(options, {
      label: "Redis queue layer",
      validate: () => {
        if (!(this.expiry > 0)) throw new TypeError("expiry must be a positive number of seconds");
        if (!(this.groupExpiry > 0)) {
          throw new TypeError("groupExpiry must be a positive number of seconds");
        }
        resolveTimeouts(options.timeouts); // checked before the hosts, as it always was
      },
      shard: (base, layer) => {
        const shard = base as Shard;
        shard.reader = new HostReader(this.#readerHost(shard, layer));
        return shard;
      },
      mailboxes: () => ({
        capacity: this.#capacity,
        expiryMs: this.#expiryMs,
        onDemand: (channel) => {
          if (isProcessLocal(channel)) return;
          this.#demand.add(channel);
          this.#shardOf(channel).reader.kick();
        },
      }),
      connectShard: (shard) =>
        this.#s.openCommand(shard, `queue host ${shard.index}`, () => this.#restore(shard)),
      // Only the command links: a reader that is starting waits for this very connect()
      // (closing the whole shard here would wait for it: a deadlock).
      abandon: (shard) => this.#s.closeCommand(shard),
      connected: () => {
        if (this.#s.closed) return;
        this.#stopRenewal = backgroundInterval(() => {
          if (this.#held.size === 0) return;
          for (const shard of this.#s.shards) if (!shard.restoring) this.#restore(shard);
        }, Math.max(10, Math.floor(this.#groupExpiryMs / 3)));
      },
      closeShard: (shard) => this.#closeShard(shard),
    });
    this.prefix = this.#s.prefix;
    this.#histories = new RedisHistories({
      prefix: this.prefix,
      serializer: this.#s.serializer,
      client: (group, what) => this.#s.command(this.#shardOf(group), what),
    });
    this.#groupSendContext = {
      prefix: this.prefix,
      expiryMs: this.#expiryMs,
      groupExpiryMs: this.#groupExpiryMs,
      inboxCapacity: this.#inboxCapacity,
      capacity: this.#capacity,
      luaRules: luaRules(options),
      hostCount: this.#s.shards.length,
      slotOf: this.#cluster ? ownerTag : undefined,
      hostOf: (name) => this.#shardOf(name),
      key: (owner) => this.#key(owner),
      command: (shard) => this.#command(shard),
    };
  }

  #readerHost(shard: Shard, layer: ShardedLayer<Shard>): ReaderHost {
    return {
      index: shard.index,
      redis: shard.host,
      cluster: this.#cluster,
      backoff: layer.backoff,
      timeouts: layer.timeouts,
      closed: () => layer.closed,
      connect: () => this.connect(),
      command: () => shard.command?.client,
      flushGate: () => this.#flushGate,
      keys: () => this.#readKeys(shard),
      dispatch: (key, member, age) => dispatchEntry(layer, this.#expiryMs, key, member, age),
      down: (reason) => layer.events.emit({ type: "disconnected", reason }),
      recovered: (restarted) => restarted ? this.#restarted(shard) : Promise.resolve(),
    };
  }

  /** Messages dropped in this process so far, by reason. */
  get dropped(): { expired: number; full: number; invalid: number } {
    return this.#s.mailboxes.dropped;
  }

  /** Number of Redis hosts. */
  get hostCount(): number {
    return this.#s.shards.length;
  }

  /** Group memberships this instance holds (added, not discarded): it renews and restores them. */
  get heldMemberships(): number {
    return this.#held.size;
  }

  /** Opens the command connection of every host (idempotent); readers open on first need. */
  connect(): Promise<void> {
    return this.#s.connect();
  }

  /** Subscribes to layer events (`disconnected`, `resync`); returns the unsubscribe function. */
  onEvent(listener: (event: LayerEvent) => void): () => void {
    return this.#s.onEvent(listener);
  }

  #shardOf(name: string): Shard {
    return this.#s.shardOf(nonLocalName(name));
  }

  #key(channel: string): string {
    if (this.#cluster) return clusterQueueKey(this.prefix, nonLocalName(channel));
    return `${this.prefix}:q:${nonLocalName(channel)}`;
  }

  #groupKey(group: string): string {
    if (this.#cluster) return `${this.prefix}:group:{${group}}`;
    return this.#s.groupKey(group);
  }

  #header(): string {
    const seq = (this.#seq++).toString(36).padStart(12, "0");
    return seq + this.#senderToken;
  }

  #command(shard: Shard) {
    return this.#s.command(shard);
  }

  // ---------------------------------------------------------------- held state

  /** Renews (or restores) every membership this instance holds on `shard`'s host. */
  #restore(shard: Shard): Promise<void> {
    return this.#held.renewOn(
      shard,
      () => this.#s.closed,
      (group) => this.#shardOf(group) === shard,
      (group) => this.#groupKey(group),
      this.#groupExpiryMs,
    );
  }

  /** A host restarted: restore what this instance holds, then signal the resync. */
  async #restarted(shard: Shard): Promise<void> {
    // Every host may have restarted together: wait (bounded) until each can send again and
    // has its memberships back, so that onResync handlers can send at once.
    await Promise.all(this.#s.shards.map((s) => this.#s.commandReady(s, RESYNC_WAIT_MS)));
    await this.#restore(shard);
    await Promise.all(this.#s.shards.map((s) => s.restoring));
    this.#s.signalResync(
      this.#cluster
        ? "Redis Cluster: reads failed (a node down or failed over): messages queued there before may have been lost"
        : `Redis host ${shard.index} restarted: messages queued there before may have been lost`,
    );
  }

  // ---------------------------------------------------------------- reading

  #readKeys(shard: Shard): [string[], string[]] {
    const keys: string[] = [];
    const counts: string[] = [];
    for (const key of shard.reader.inboxes) {
      keys.push(key);
      counts.push(this.#readBatch);
    }
    for (const channel of this.#demand) {
      const waiting = this.#s.mailboxes.waiting(channel);
      if (waiting === 0) {
        this.#demand.delete(channel);
      } else if (this.#shardOf(channel) === shard) {
        keys.push(this.#key(channel));
        counts.push(String(waiting));
      }
    }
    return [keys, counts];
  }

  // ---------------------------------------------------------------- contract

  /** Creates a process-local channel name; this process's reader reads its inbox. */
  async newChannel(prefix = "specific"): Promise<string> {
    this.#s.assertOpen();
    const name = this.#s.mintChannel(prefix);
    const owner = nonLocalName(name);
    if (!this.#s.ownPrefixes.has(owner)) {
      this.#s.ownPrefixes.add(owner);
      const reader = this.#shardOf(owner).reader;
      reader.inboxes.add(this.#key(owner));
      await reader.ensure();
      reader.kick();
    }
    return name;
  }

  /**
   * Queues `message` for `channel`. Throws `ChannelFull` (a full normal channel, a full mailbox
   * of this instance's own channel, a full inbox of another process) or `LayerUnavailableError`.
   */
  send(channel: string, message: LayerMessage): Promise<void> {
    try {
      this.#s.assertOpen();
      assertChannelName(channel);
      const local = isProcessLocal(channel);
      if (local && this.#s.ownPrefixes.has(nonLocalName(channel))) {
        this.#sendOwn(channel, message);
        return Promise.resolve();
      }
      return this.#order.run(async () => {
        const shard = this.#shardOf(channel);
        const [body, client] = await Promise.all([
          this.#s.serializer.encode(message),
          this.#command(shard),
          DELIVER.ready(),
        ]);
        const capacity = String(local ? this.#inboxCapacity : this.#capacity(channel));
        const targets = local ? JSON.stringify([channel]) : "[]";
        return async () => {
          // The header orders entries of one millisecond: take it in call order, too.
          const args = [String(this.#expiryMs), this.#header(), body, capacity, targets];
          let full: unknown;
          try {
            full = await DELIVER.run(client, [this.#key(channel)], args);
          } catch (error) {
            throw unavailable(`send to ${channel}`, error);
          }
          if ((full as unknown[]).length) throw new ChannelFull(channel);
        };
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A send to a channel of this instance: straight to its mailbox, as in memory. */
  #sendOwn(channel: string, message: LayerMessage): void {
    const copy = jsonSerializer.decode(jsonSerializer.encode(message) as string) as LayerMessage;
    const outcome = this.#s.mailboxes.offer(
      channel,
      deepFreeze(copy),
      this.#s.mailboxes.deadline(),
    );
    if (outcome === "full") throw new ChannelFull(channel);
    if (outcome === "closed") throw new ClosedError("The Redis queue layer is closed");
  }

  /** Waits for the next message on `channel` (a normal one, or one this instance created). */
  async receive(channel: string, options: ReceiveOptions = {}): Promise<LayerMessage> {
    this.#s.assertOpen();
    assertChannelName(channel);
    this.#s.assertOwn(channel, "receive()");
    const stop = stopOf(options); // the loop's Stop: its signal is not made
    if (stop?.aborted) throw stop.reason;
    const reader = this.#shardOf(channel).reader;
    if (!reader.running) await reader.ensure();
    return await this.#s.mailboxes.receive(channel, options);
  }

  /**
   * The message waiting on `channel`, else `undefined` with `sink` parked for the next one; `null`
   * (call `receive`) when closed, while its reader is not running, for a bad or foreign name or an
   * aborted signal. The name is checked when the receiver opens the channel, not on every wait.
   */
  receiveNow(
    channel: string,
    sink: ReceiveSink,
    options?: ReceiveOptions,
  ): LayerMessage | undefined | null {
    if (this.#s.closed || !this.#shardOf(channel).reader.running) return null;
    return this.#s.mailboxes.receiveNow(channel, sink, options, this.#checkReceive);
  }

  readonly #checkReceive = (channel: string): void => {
    assertChannelName(channel);
    this.#s.assertOwn(channel, "receive()");
  };

  /**
   * Adds `channel` to `group`, in Redis: any process may add any channel. This instance then
   * holds the membership: it renews it while it lives and restores it after Redis lost it, until
   * `groupDiscard`.
   */
  async groupAdd(group: string, channel: string): Promise<void> {
    this.#s.assertOpen();
    assertGroupName(group);
    assertChannelName(channel);
    const fresh = !this.#held.has(group, channel);
    this.#held.add(group, channel);
    try {
      const client = await this.#command(this.#shardOf(group));
      await GROUP_ADD.run(client, [this.#groupKey(group)], [String(this.#groupExpiryMs), channel]);
    } catch (error) {
      if (fresh) this.#held.delete(group, channel);
      throw unavailable(`groupAdd ${group}`, error);
    }
  }

  /** Removes `channel` from `group` (and stops renewing it). */
  async groupDiscard(group: string, channel: string): Promise<void> {
    this.#s.assertOpen();
    assertGroupName(group);
    assertChannelName(channel);
    this.#held.delete(group, channel);
    try {
      const client = await this.#command(this.#shardOf(group));
      await client.sendCommand(["ZREM", this.#groupKey(group), channel]);
    } catch (error) {
      throw unavailable(`groupDiscard ${group}`, error);
    }
  }

  /**
   * Appends `message` to `group`'s history (a Redis Stream), then sends it to the group stamped
   * with its position (two round trips: members of a group that several processes send to may
   * get its messages out of offset order; connections put them back in order from the history).
   */
  async appendAndSend(
    group: string,
    message: LayerMessage,
    options: HistoryOptions,
  ): Promise<StreamPosition> {
    this.#s.assertOpen();
    const position = await this.#histories.append(group, message, options);
    await this.groupSend(group, { ...message, [HISTORY_KEY]: { group, ...position } });
    return position;
  }

  /** The messages of `group`'s history after `since` (see `HistoryCapability.readSince`). */
  async readSince(
    group: string,
    since: StreamPosition | undefined,
    options: HistoryReadOptions,
  ): Promise<HistoryRead> {
    this.#s.assertOpen();
    return await this.#histories.read(group, since, options);
  }

  /** Sends one entry per destination (process inbox or normal channel); full ones are logged. */
  async groupSend(group: string, message: LayerMessage): Promise<void> {
    this.#s.assertOpen();
    assertGroupName(group);
    const [total, full] = await this.#order.run(async () => {
      const [body, client] = await Promise.all([
        this.#s.serializer.encode(message),
        this.#command(this.#shardOf(group)),
        groupSendReady(),
      ]);
      return async () => {
        try {
          return await groupSend(
            this.#groupSendContext,
            client,
            this.#groupKey(group),
            this.#header(),
            body,
          );
        } catch (error) {
          throw unavailable(`groupSend to ${group}`, error);
        }
      };
    });
    if (full) {
      this.#s.mailboxes.drop(
        `group ${group}`,
        "full",
        full,
        `${full} of ${total} destinations over capacity in group ${group}`,
      );
    }
  }

  /** The members of `group` in Redis, without expired ones (for tests and introspection). */
  async groupMembers(group: string): Promise<string[]> {
    assertGroupName(group);
    const client = await this.#command(this.#shardOf(group));
    return (await GROUP_MEMBERS.run(client, [this.#groupKey(group)], [
      String(this.#groupExpiryMs),
    ])) as string[];
  }

  /**
   * Deletes what this layer owns on every host — its queues (`<prefix>:q:*`) and groups
   * (`<prefix>:group:*`), nothing else under the prefix (a job queue's `<prefix>:jobs:*` stays) —
   * with SCAN, not KEYS; forgets local messages and the memberships it held.
   */
  async flush(): Promise<void> {
    this.#s.assertOpen();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const previous = this.#flushGate;
    this.#flushGate = gate;
    this.#held.clear();
    try {
      await previous;
      // Let every reader finish (or abandon) its current read, so that nothing popped before the
      // keys are deleted reaches a mailbox after the flush.
      await Promise.all(this.#s.shards.map((shard) => shard.reader.idle()));
      await Promise.all(this.#s.shards.map(async (shard) => {
        const client = await this.#command(shard);
        // SCAN works per node: on a cluster, on every master.
        const raw = (client as { raw?: RedisClientLike }).raw;
        const nodes = raw instanceof ClusterClient ? await raw.masters() : [client];
        for (const node of nodes) {
          for (const pattern of [`${this.prefix}:q:*`, `${this.prefix}:group:*`]) {
            await unlinkMatching(node, pattern, this.#cluster);
          }
        }
      }));
    } catch (error) {
      throw unavailable("flush", error);
    } finally {
      this.#s.mailboxes.clear();
      if (this.#flushGate === gate) this.#flushGate = undefined;
      release();
    }
  }

  async #closeShard(shard: Shard): Promise<void> {
    this.#s.releaseWaiters(shard);
    await shard.reader.close();
    await shard.restoring;
    await this.#s.closeCommand(shard);
  }

  /** Stops the readers, closes every connection the layer opened, rejects waiting receivers. */
  async close(): Promise<void> {
    if (this.#s.closed) return;
    this.#stopRenewal?.();
    this.#held.clear();
    await this.#s.close(() => this.#stopRenewal?.());
  }
}
