/**
 * The Redis pub/sub channel layer: low latency, no persistence.
 *
 * Wire layout (prefix `p`, default `switchboard`):
 * - a process-local channel `a.b!x` is published on the Redis channel `p:a.b!` (one subscription
 *   per process and channel prefix, not per socket); a normal channel `c` on `p:c`;
 * - a group `g` on `p:group:g`: one PUBLISH per group send, each subscribed process fans out to
 *   its local members;
 * - the payload is `<target channel or empty>\n<serialized message>` (JSON by default).
 *
 * Names are sharded over hosts by {@linkcode consistentHash} of the channel's non-local part (or
 * the group name), so a direct send to `a.b!x` reaches its receiver with any number of hosts.
 *
 * @module
 */
import { stopOf } from "../../src/abort.ts";
import { MemberSet } from "../../src/layers/member_set.ts";
import {
  assertChannelName,
  assertGroupName,
  capacityLookup,
  type CapacityOptions,
  type ChannelLayer,
  ClosedError,
  isProcessLocal,
  type LayerEvent,
  type LayerMessage,
  nonLocalName,
  type ReceiveOptions,
  type ReceiveSink,
} from "../../src/layers/kit.ts";
import { deepFreeze, type DropListener } from "../../src/layers/mailbox.ts";
import {
  type BackoffOptions,
  type RedisHost,
  type RedisTimeouts,
  unavailable,
} from "./redis_client.ts";
import type { RedisClusterOptions } from "./cluster_client.ts";
import { type Shard as BaseShard, ShardedLayer } from "./sharded_layer.ts";
import type {
  HistoryCapability,
  HistoryOptions,
  HistoryRead,
  HistoryReadOptions,
  StreamPosition,
} from "../../src/layers/history.ts";
import { RedisHistories, stampFromTarget } from "./history.ts";
import { HostSubscriber, type SubscriberHost } from "./pubsub_subscriber.ts";

/** Options of {@linkcode RedisPubSubChannelLayer}. */
export interface RedisPubSubChannelLayerOptions extends CapacityOptions {
  /** One Redis URL (default `redis://127.0.0.1:6379`). Use `hosts` for several. */
  url?: string;
  /** Several Redis hosts (URLs or node-redis clients); names are sharded over them. */
  hosts?: RedisHost[];
  /**
   * A Redis Cluster instead of `url` / `hosts`: groups and channels use sharded pub/sub
   * (`SSUBSCRIBE` / `SPUBLISH`), so a message reaches only the shard of its channel and the
   * processes subscribed there (a process subscribes to a group only while it has local members).
   */
  cluster?: RedisClusterOptions;
  /** Prefix of every Redis channel name. Default `"switchboard"`. */
  prefix?: string;
  /** Seconds a message may wait in a local mailbox before it is dropped. Default 60. */
  expiry?: number;
  /** AES-GCM key strings; the first encrypts, all are tried to decrypt. Default: plain JSON. */
  encryptionKeys?: string[];
  /** Reconnect backoff of the connections the layer opens from URLs. */
  backoff?: BackoffOptions;
  /**
   * Connect and command timeouts (default 5 s each): past them, calls fail with
   * {@linkcode LayerUnavailableError} instead of waiting for an unreachable or paused Redis.
   */
  timeouts?: RedisTimeouts;
  /** Called for every message dropped in this process (full mailbox, expired, undecodable). */
  onDrop?: DropListener;
}

interface Shard extends BaseShard {
  sub: HostSubscriber;
}

/** How long a host's resync waits for the other hosts to be back (all restarted together). */
const RESYNC_WAIT_MS = 5_000;

type Route = { kind: "local" } | { kind: "channel"; channel: string } | {
  kind: "group";
  group: string;
};

/**
 * A channel layer over Redis pub/sub.
 *
 * - Messages published while a process is disconnected from Redis are lost (pub/sub has no
 *   memory). When the subscriber connection comes back (backoff, then automatic re-subscribe) the
 *   layer delivers `{type: "switchboard.resync", reason}` into every local channel and emits a
 *   `resync` {@linkcode LayerEvent}; it emits `disconnected` when the connection drops.
 * - Publishing while Redis is down throws {@linkcode LayerUnavailableError}.
 * - Local mailboxes are bounded by `capacity` / `channelCapacity`; overflow is dropped, counted
 *   in {@linkcode RedisPubSubChannelLayer.dropped} and logged. `send` never throws `ChannelFull`
 *   (the sender cannot see a remote mailbox).
 * - Group membership lives in the process that owns the channel: `groupAdd` accepts normal
 *   channels and process-local channels made by this instance, and throws
 *   {@linkcode ForeignChannelError} for another instance's process-local channel.
 * - A normal channel is only heard by processes that subscribed before the publish: call
 *   {@linkcode RedisPubSubChannelLayer.listen} (or `receive`) first. Every subscribed process gets
 *   a copy.
 */
export class RedisPubSubChannelLayer implements ChannelLayer, HistoryCapability {
  /** Optional features. */
  readonly extensions: readonly string[] = ["groups", "flush", "history"];
  /** The Redis channel prefix. */
  readonly prefix: string;
  readonly #s: ShardedLayer<Shard>;
  /** Group histories on Redis Streams (history.ts). */
  readonly #histories: RedisHistories;
  /**
   * The one listener of every subscription: node-redis keeps listeners in a set, so
   * subscribing again (after a failed or unconfirmed UNSUBSCRIBE) never adds a second one.
   */
  readonly #listener = (message: string, channel: string) => this.#onMessage(channel, message);
  /** Local group members, by group. */
  #groups = new Map<string, MemberSet>();
  /** Redis channel → what it carries. */
  #routes = new Map<string, Route>();
  #decodeChain: Promise<void> = Promise.resolve();
  #heard = 0;

  /** Creates a layer; it connects on first use or on {@linkcode connect}. */
  constructor(options: RedisPubSubChannelLayerOptions = {}) {
    this.#s = new ShardedLayer<Shard>(options, {
      label: "Redis pub/sub layer",
      shard: (base, layer) => {
        const shard = base as Shard;
        shard.sub = new HostSubscriber(this.#subscriberHost(shard, layer));
        return shard;
      },
      mailboxes: () => {
        const expiry = options.expiry ?? 60;
        if (!(expiry > 0)) throw new TypeError("expiry must be a positive number of seconds");
        return { capacity: capacityLookup(options), expiryMs: expiry * 1000 };
      },
      connectShard: (shard) => this.#connectShard(shard),
      abandon: (shard) => this.#closeShard(shard),
      connected: async () => {
        if (!this.#s.closed) return;
        await Promise.all(this.#s.shards.map((s) => this.#closeShard(s)));
        throw new ClosedError("The Redis pub/sub layer was closed while connecting");
      },
      closeShard: (shard) => this.#closeShard(shard),
    });
    this.prefix = this.#s.prefix;
    this.#histories = new RedisHistories({
      prefix: this.prefix,
      serializer: this.#s.serializer,
      client: (group, what) => this.#s.command(this.#shardOf(group), what),
      // On a cluster the append script SPUBLISHes to the group's shard channel: same slot.
      tagOf: options.cluster !== undefined ? (group) => this.#groupKey(group) : undefined,
    });
  }

  /** Messages dropped in this process so far, by reason. */
  get dropped(): { expired: number; full: number; invalid: number } {
    return this.#s.mailboxes.dropped;
  }

  /**
   * Redis messages this instance's subscribers received so far, before routing (for tests and
   * metrics: on a cluster, a process hears only the groups it has members of).
   */
  get heard(): number {
    return this.#heard;
  }

  /** Number of Redis hosts. */
  get hostCount(): number {
    return this.#s.shards.length;
  }

  /** Opens the command and subscriber connections of every host (idempotent). */
  connect(): Promise<void> {
    return this.#s.connect();
  }

  #subscriberHost(shard: Shard, layer: ShardedLayer<Shard>): SubscriberHost {
    return {
      index: shard.index,
      redis: shard.host,
      backoff: layer.backoff,
      timeouts: layer.timeouts,
      listener: this.#listener,
      closed: () => layer.closed,
      commandReady: () => !shard.command || shard.command.client.isReady,
      wanted: (key) => this.#wanted(key),
      keys: () => [...this.#routes.keys()].filter((key) => this.#shardOfKey(key) === shard),
      forget: (key) => this.#routes.delete(key),
      down: (reason) => layer.events.emit({ type: "disconnected", reason }),
      rejoined: async () => {
        // Signal only when publishing works again: onResync handlers usually send at once.
        await layer.commandReady(shard);
        // Every host may have restarted together: wait (bounded) until each can publish and
        // hear again, so that what onResync handlers send reaches every host.
        await Promise.all(
          layer.shards.map((s) => s === shard ? undefined : s.sub.back(RESYNC_WAIT_MS)),
        );
        layer.signalResync(
          `Redis host ${shard.index} reconnected: messages published while it was unreachable were lost`,
        );
      },
    };
  }

  async #connectShard(shard: Shard): Promise<void> {
    const label = `pub/sub host ${shard.index}`;
    await this.#s.openCommand(shard, `${label} (commands)`, () => shard.sub.releaseBackWaiters());
    await shard.sub.open(`${label} (subscriber)`);
  }

  #shardOfKey(key: string): Shard | undefined {
    const route = this.#routes.get(key);
    if (!route) return undefined;
    const name = route.kind === "group" ? route.group : key.slice(this.prefix.length + 1);
    return this.#shardOf(name);
  }

  /** Subscribes to layer events (`disconnected`, `resync`); returns the unsubscribe function. */
  onEvent(listener: (event: LayerEvent) => void): () => void {
    return this.#s.onEvent(listener);
  }

  #shardOf(name: string): Shard {
    return this.#s.shardOf(name);
  }

  #channelKey(channel: string): string {
    return `${this.prefix}:${nonLocalName(channel)}`;
  }

  #groupKey(group: string): string {
    return this.#s.groupKey(group);
  }

  #wanted(key: string): boolean {
    const route = this.#routes.get(key);
    if (!route) return false;
    if (route.kind === "group") return (this.#groups.get(route.group)?.size ?? 0) > 0;
    return true;
  }

  #onMessage(redisChannel: string, payload: string): void {
    this.#heard++;
    const route = this.#routes.get(redisChannel);
    if (!route) return; // unsubscribed meanwhile
    const nl = payload.indexOf("\n");
    if (nl === -1) {
      this.#s.mailboxes.drop(redisChannel, "invalid", 1, "payload without a target line");
      return;
    }
    const target = payload.slice(0, nl);
    const body = payload.slice(nl + 1);
    const deliver = (decoded: LayerMessage) => {
      // A group message sent with history carries its position on the target line.
      const message = route.kind === "group" && target
        ? stampFromTarget(decoded, route.group, target)
        : decoded;
      const frozen = deepFreeze(message);
      const deadline = this.#s.mailboxes.deadline();
      if (route.kind === "group") {
        const members = this.#groups.get(route.group);
        if (members) this.#s.mailboxes.deliverToGroup(this, route.group, members, frozen, deadline);
      } else if (route.kind === "channel") {
        this.#s.mailboxes.deliver(route.channel, frozen, deadline);
      } else if (target) {
        this.#s.mailboxes.deliver(target, frozen, deadline);
      } else {
        this.#s.mailboxes.drop(redisChannel, "invalid", 1, "process-local payload without target");
      }
    };
    const fail = (error: unknown) => {
      this.#s.mailboxes.drop(target || redisChannel, "invalid", 1, String(error));
    };
    if (!this.#s.serializer.async) {
      try {
        deliver(this.#s.serializer.decode(body) as LayerMessage);
      } catch (error) {
        fail(error);
      }
      return;
    }
    // Decrypting is asynchronous: chain it so messages keep their order.
    const decoded = Promise.resolve().then(() => this.#s.serializer.decode(body));
    this.#decodeChain = this.#decodeChain.then(() => decoded.then(deliver, fail));
  }

  async #publish(shard: Shard, key: string, payload: string, what: string): Promise<void> {
    const client = await this.#s.command(shard, what);
    try {
      await client.sendCommand(["PUBLISH", key, payload]);
    } catch (error) {
      throw unavailable(what, error);
    }
  }

  /**
   * Makes sure this process hears `channel` (subscribes to its Redis channel). `receive` does it
   * too; call it first when a message may be published before the first `receive`.
   */
  async listen(channel: string): Promise<void> {
    this.#s.assertOpen();
    assertChannelName(channel);
    this.#s.assertOwn(channel, "receive()");
    await this.connect();
    const key = this.#channelKey(channel);
    if (!this.#routes.has(key)) {
      this.#routes.set(
        key,
        isProcessLocal(channel) ? { kind: "local" } : { kind: "channel", channel },
      );
    }
    await this.#shardOf(nonLocalName(channel)).sub.reconcile(key);
  }

  /** Creates a process-local channel name and subscribes to its process prefix. */
  async newChannel(prefix = "specific"): Promise<string> {
    this.#s.assertOpen();
    const name = this.#s.mintChannel(prefix);
    const nonLocal = nonLocalName(name);
    this.#s.ownPrefixes.add(nonLocal);
    const key = this.#channelKey(name);
    const shard = this.#shardOf(nonLocal);
    if (shard.sub.needs(key)) await this.listen(name);
    return name;
  }

  /** Publishes `message` to `channel`; throws LayerUnavailableError when Redis is down. */
  async send(channel: string, message: LayerMessage): Promise<void> {
    this.#s.assertOpen();
    assertChannelName(channel);
    const body = await this.#s.serializer.encode(message);
    const target = isProcessLocal(channel) ? channel : "";
    await this.#publish(
      this.#shardOf(nonLocalName(channel)),
      this.#channelKey(channel),
      `${target}\n${body}`,
      `send to ${channel}`,
    );
  }

  /**
   * Waits for the next message on `channel` (a normal one, or one this instance created). Not an
   * async function: a channel already subscribed to waits on its mailbox with no extra hop.
   */
  receive(channel: string, options: ReceiveOptions = {}): Promise<LayerMessage> {
    try {
      this.#s.assertOpen();
      assertChannelName(channel);
      const stop = stopOf(options); // the loop's Stop: its signal is not made
      if (stop?.aborted) throw stop.reason;
      const key = this.#channelKey(channel);
      const shard = this.#shardOf(nonLocalName(channel));
      if (shard.sub.needs(key)) {
        return this.listen(channel).then(() => this.#s.mailboxes.receive(channel, options));
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#s.mailboxes.receive(channel, options);
  }

  /**
   * The message waiting on `channel`, else `undefined` with `sink` parked for the next one; `null`
   * (call `receive`) when closed, not subscribed (yet), for a bad or foreign name or an aborted
   * signal. The name is checked when the receiver opens the channel, not on every wait.
   */
  receiveNow(
    channel: string,
    sink: ReceiveSink,
    options?: ReceiveOptions,
  ): LayerMessage | undefined | null {
    if (this.#s.closed) return null;
    if (this.#shardOf(nonLocalName(channel)).sub.needs(this.#channelKey(channel))) return null;
    return this.#s.mailboxes.receiveNow(channel, sink, options, this.#checkReceive);
  }

  readonly #checkReceive = (channel: string): void => {
    assertChannelName(channel);
    this.#s.assertOwn(channel, "receive()");
  };

  /** Adds `channel` to `group` in this process and subscribes to the group. */
  async groupAdd(group: string, channel: string): Promise<void> {
    this.#s.assertOpen();
    assertGroupName(group);
    assertChannelName(channel);
    this.#s.assertOwn(channel, "groupAdd()");
    await this.connect();
    let members = this.#groups.get(group);
    if (!members) this.#groups.set(group, members = new MemberSet());
    const added = !members.has(channel);
    members.add(channel);
    const key = this.#groupKey(group);
    this.#routes.set(key, { kind: "group", group });
    try {
      await this.#shardOf(group).sub.reconcile(key);
    } catch (error) {
      // The caller is told the join failed: do not keep a membership nobody will discard.
      if (added && members.delete(channel) && members.size === 0) this.#groups.delete(group);
      throw error;
    }
  }

  /** Removes `channel` from `group`; unsubscribes when no local member is left. */
  async groupDiscard(group: string, channel: string): Promise<void> {
    this.#s.assertOpen();
    assertGroupName(group);
    assertChannelName(channel);
    const members = this.#groups.get(group);
    if (!members?.delete(channel)) return;
    if (members.size === 0) {
      this.#groups.delete(group);
      await this.#shardOf(group).sub.reconcile(this.#groupKey(group));
    }
  }

  /** One PUBLISH to the group's Redis channel; every subscribed process fans out locally. */
  async groupSend(group: string, message: LayerMessage): Promise<void> {
    this.#s.assertOpen();
    assertGroupName(group);
    const body = await this.#s.serializer.encode(message);
    await this.#publish(
      this.#shardOf(group),
      this.#groupKey(group),
      `\n${body}`,
      `groupSend to ${group}`,
    );
  }

  /**
   * Appends `message` to `group`'s history (a Redis Stream) and publishes it in the same script,
   * stamped with its position: every member hears a group's messages in offset order.
   */
  async appendAndSend(
    group: string,
    message: LayerMessage,
    options: HistoryOptions,
  ): Promise<StreamPosition> {
    this.#s.assertOpen();
    return await this.#histories.append(group, message, options, this.#groupKey(group));
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

  /** The local members of `group` (for tests and introspection). */
  groupMembers(group: string): string[] {
    return [...(this.#groups.get(group) ?? [])];
  }

  /**
   * Forgets local messages and group memberships (unsubscribing groups). Receivers keep waiting.
   * Messages published before the call that are still on their way to this process are
   * forgotten too: each host's subscriber is drained first.
   */
  async flush(): Promise<void> {
    this.#s.assertOpen();
    if (this.#s.connecting) {
      await Promise.all(this.#s.shards.map((s) => s.sub.heardAll()));
      await this.#decodeChain.catch(() => {});
    }
    this.#s.mailboxes.clear();
    const groups = [...this.#groups.keys()];
    this.#groups.clear();
    if (this.#s.connecting) {
      await Promise.all(
        groups.map((g) => this.#shardOf(g).sub.reconcile(this.#groupKey(g)).catch(() => {})),
      );
    }
  }

  async #closeShard(shard: Shard): Promise<void> {
    this.#s.releaseWaiters(shard);
    await shard.sub.close();
    await this.#s.closeCommand(shard);
  }

  /** Unsubscribes by name, closes every connection the layer opened, rejects waiting receivers. */
  async close(): Promise<void> {
    if (this.#s.closed) return;
    await this.#s.close(() => this.#decodeChain.catch(() => {}));
    this.#groups.clear();
    this.#routes.clear();
  }
}
