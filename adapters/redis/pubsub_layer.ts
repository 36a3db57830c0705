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
import {
  assertChannelName,
  assertGroupName,
  capacityLookup,
  type CapacityOptions,
  type ChannelLayer,
  ClosedError,
  getLogger,
  isProcessLocal,
  type LayerEvent,
  type LayerMessage,
  LayerUnavailableError,
  nonLocalName,
  type ReceiveOptions,
} from "../../src/layers/kit.ts";
import { deepFreeze, type DropListener } from "../../src/layers/mailbox.ts";
import {
  type BackoffOptions,
  closeLink,
  openLink,
  type RedisHost,
  type RedisLink,
  type RedisTimeouts,
  unavailable,
} from "./redis_client.ts";
import { type Shard as BaseShard, ShardedLayer } from "./sharded_layer.ts";

/** Options of {@linkcode RedisPubSubChannelLayer}. */
export interface RedisPubSubChannelLayerOptions extends CapacityOptions {
  /** One Redis URL (default `redis://127.0.0.1:6379`). Use `hosts` for several. */
  url?: string;
  /** Several Redis hosts (URLs or node-redis clients); names are sharded over them. */
  hosts?: RedisHost[];
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
  subscriber?: RedisLink;
  down: boolean;
  /** Redis channels whose SUBSCRIBE Redis confirmed (and no UNSUBSCRIBE confirmed since). */
  subscribed: Set<string>;
  /**
   * Redis channels whose last SUBSCRIBE or UNSUBSCRIBE failed or timed out: node-redis may
   * still be subscribed (it keeps the listener of a failed UNSUBSCRIBE and re-subscribes it on
   * reconnect). Reconciled again after a reconnect and by a retry timer.
   */
  unsure: Set<string>;
  /** The retry timer of `unsure` channels. */
  retryTimer?: ReturnType<typeof setTimeout>;
  /** Per Redis channel: the chain of subscribe/unsubscribe operations. */
  ops: Map<string, Promise<void>>;
  /** The subscriber reconnected and its subscriptions are not restored yet. */
  rejoining: boolean;
  /** Told whenever the host may be back (another host's resync waits for it, bounded). */
  backWaiters: Array<() => void>;
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
export class RedisPubSubChannelLayer implements ChannelLayer {
  /** Optional features. */
  readonly extensions: readonly string[] = ["groups", "flush"];
  /** The Redis channel prefix. */
  readonly prefix: string;
  readonly #s: ShardedLayer<Shard>;
  /**
   * The one listener of every subscription: node-redis keeps listeners in a set, so
   * subscribing again (after a failed or unconfirmed UNSUBSCRIBE) never adds a second one.
   */
  readonly #listener = (message: string, channel: string) => this.#onMessage(channel, message);
  /** Local group members, by group. */
  #groups = new Map<string, Set<string>>();
  /** Redis channel → what it carries. */
  #routes = new Map<string, Route>();
  #decodeChain: Promise<void> = Promise.resolve();

  /** Creates a layer; it connects on first use or on {@linkcode connect}. */
  constructor(options: RedisPubSubChannelLayerOptions = {}) {
    this.#s = new ShardedLayer<Shard>(options, {
      label: "Redis pub/sub layer",
      shard: (base) => ({
        ...base,
        down: false,
        rejoining: false,
        backWaiters: [],
        subscribed: new Set(),
        unsure: new Set(),
        ops: new Map(),
      }),
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
  }

  /** Messages dropped in this process so far, by reason. */
  get dropped(): { expired: number; full: number; invalid: number } {
    return this.#s.mailboxes.dropped;
  }

  /** Number of Redis hosts. */
  get hostCount(): number {
    return this.#s.shards.length;
  }

  /** Opens the command and subscriber connections of every host (idempotent). */
  connect(): Promise<void> {
    return this.#s.connect();
  }

  async #connectShard(shard: Shard): Promise<void> {
    const label = `pub/sub host ${shard.index}`;
    await this.#s.openCommand(shard, `${label} (commands)`, () => this.#releaseBackWaiters(shard));
    shard.subscriber = await openLink(shard.host, `${label} (subscriber)`, {
      duplicate: true,
      backoff: this.#s.backoff,
      timeouts: this.#s.timeouts,
      hooks: {
        onDown: (reason) => {
          if (shard.down || this.#s.closed) return;
          shard.down = true;
          this.#s.events.emit({
            type: "disconnected",
            reason: `Redis host ${shard.index}: ${reason}`,
          });
        },
        onUp: () => {
          if (!shard.down || this.#s.closed) return;
          shard.down = false;
          shard.rejoining = true;
          this.#afterReconnect(shard);
        },
      },
    });
  }

  #releaseBackWaiters(shard: Shard): void {
    for (const check of shard.backWaiters.splice(0)) check();
  }

  /**
   * Resolves once `shard` can publish and hear again (its command connection is ready, its
   * subscriber connected with its subscriptions restored), the layer closed, or `ms` passed.
   */
  #back(shard: Shard, ms: number): Promise<void> {
    const isBack = () =>
      this.#s.closed ||
      ((!shard.command || shard.command.client.isReady) && !shard.down && !shard.rejoining);
    if (isBack()) return Promise.resolve();
    return new Promise((resolve) => {
      let done = false;
      const finish = () => {
        done = true;
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      const check = () => {
        if (done) return;
        if (isBack()) finish();
        else shard.backWaiters.push(check);
      };
      shard.backWaiters.push(check);
    });
  }

  async #afterReconnect(shard: Shard): Promise<void> {
    // node-redis re-subscribes on reconnect; a PING on the same connection is answered after the
    // SUBSCRIBE replies, so once it returns the subscriptions are in place again.
    try {
      await shard.subscriber?.client.sendCommand(["PING"]);
    } catch {
      // If it dropped again, the next ready comes back here (other hosts' resyncs wait, bounded,
      // while it is down); if it timed out, they do not wait for it.
      shard.rejoining = false;
      for (const check of shard.backWaiters.splice(0)) check();
      return;
    }
    // node-redis re-subscribed what it holds listeners for; bring the rest in line: channels
    // whose SUBSCRIBE failed while Redis was away, and ones whose UNSUBSCRIBE did not complete.
    await this.#restore(shard);
    shard.rejoining = false;
    for (const check of shard.backWaiters.splice(0)) check();
    // Signal only when publishing works again: onResync handlers usually send at once.
    await this.#s.commandReady(shard);
    // Every host may have restarted together: wait (bounded) until each can publish and hear
    // again, so that what onResync handlers send reaches every host.
    await Promise.all(
      this.#s.shards.map((s) => s === shard ? undefined : this.#back(s, RESYNC_WAIT_MS)),
    );
    this.#s.signalResync(
      `Redis host ${shard.index} reconnected: messages published while it was unreachable were lost`,
    );
  }

  /** Reconciles every channel of `shard` that is unsure or wanted but not subscribed. */
  async #restore(shard: Shard): Promise<void> {
    const keys = new Set(shard.unsure);
    for (const [key] of this.#routes) {
      if (!shard.subscribed.has(key) && this.#shardOfKey(key) === shard && this.#wanted(key)) {
        keys.add(key);
      }
    }
    await Promise.all([...keys].map((key) => this.#reconcile(shard, key).catch(() => {})));
  }

  #shardOfKey(key: string): Shard | undefined {
    const route = this.#routes.get(key);
    if (!route) return undefined;
    const name = route.kind === "group" ? route.group : key.slice(this.prefix.length + 1);
    return this.#shardOf(name);
  }

  /** Retries unsure channels later (a paused Redis answers again without reconnecting). */
  #scheduleRetry(shard: Shard): void {
    if (shard.retryTimer !== undefined || this.#s.closed) return;
    shard.retryTimer = setTimeout(() => {
      shard.retryTimer = undefined;
      if (this.#s.closed || shard.unsure.size === 0) return;
      if (!shard.subscriber?.client.isReady) return; // the reconnect restores them
      this.#restore(shard).then(() => {
        if (shard.unsure.size) this.#scheduleRetry(shard);
      });
    }, Math.min(this.#s.timeouts.commandTimeoutMs, 1000));
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

  /** Brings the subscription state of `key` on `shard` in line with what is needed, in order. */
  #reconcile(shard: Shard, key: string): Promise<void> {
    const previous = shard.ops.get(key) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(async () => {
      const wanted = this.#wanted(key);
      const sub = shard.subscriber?.client;
      if (!sub) throw new LayerUnavailableError("The Redis pub/sub layer is not connected");
      if (wanted && !shard.subscribed.has(key)) {
        try {
          await sub.subscribe(key, this.#listener);
        } catch (error) {
          // Unknown outcome (a timeout): node-redis may still subscribe; the same listener
          // makes that harmless, and the retry brings it in line with what is wanted.
          shard.unsure.add(key);
          this.#scheduleRetry(shard);
          throw unavailable(`SUBSCRIBE ${key}`, error);
        }
        shard.subscribed.add(key);
        shard.unsure.delete(key);
      } else if (!wanted && (shard.subscribed.has(key) || shard.unsure.has(key))) {
        try {
          await sub.unsubscribe(key);
        } catch (error) {
          // Not confirmed: still (possibly) subscribed. Keep knowing it, retry later.
          shard.unsure.add(key);
          this.#scheduleRetry(shard);
          getLogger().warn(`Redis pub/sub layer: UNSUBSCRIBE ${key} failed: ${error}`);
          return;
        }
        shard.subscribed.delete(key);
        shard.unsure.delete(key);
        if (!this.#wanted(key)) this.#routes.delete(key);
      } else if (wanted) {
        shard.unsure.delete(key);
      }
    });
    shard.ops.set(key, next);
    next.finally(() => {
      if (shard.ops.get(key) === next) shard.ops.delete(key);
    }).catch(() => {});
    return next;
  }

  #wanted(key: string): boolean {
    const route = this.#routes.get(key);
    if (!route) return false;
    if (route.kind === "group") return (this.#groups.get(route.group)?.size ?? 0) > 0;
    return true;
  }

  #onMessage(redisChannel: string, payload: string): void {
    const route = this.#routes.get(redisChannel);
    if (!route) return; // unsubscribed meanwhile
    const nl = payload.indexOf("\n");
    if (nl === -1) {
      this.#s.mailboxes.drop(redisChannel, "invalid", 1, "payload without a target line");
      return;
    }
    const target = payload.slice(0, nl);
    const body = payload.slice(nl + 1);
    const deliver = (message: LayerMessage) => {
      const frozen = deepFreeze(message);
      const deadline = this.#s.mailboxes.deadline();
      if (route.kind === "group") {
        for (const member of this.#groups.get(route.group) ?? []) {
          this.#s.mailboxes.deliver(member, frozen, deadline);
        }
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
    await this.#reconcile(this.#shardOf(nonLocalName(channel)), key);
  }

  /** Creates a process-local channel name and subscribes to its process prefix. */
  async newChannel(prefix = "specific"): Promise<string> {
    this.#s.assertOpen();
    const name = this.#s.mintChannel(prefix);
    const nonLocal = nonLocalName(name);
    this.#s.ownPrefixes.add(nonLocal);
    const key = this.#channelKey(name);
    const shard = this.#shardOf(nonLocal);
    if (!shard.subscribed.has(key) || shard.ops.has(key)) await this.listen(name);
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

  /** Waits for the next message on `channel` (a normal one, or one this instance created). */
  async receive(channel: string, options: ReceiveOptions = {}): Promise<LayerMessage> {
    this.#s.assertOpen();
    assertChannelName(channel);
    if (options.signal?.aborted) throw options.signal.reason;
    const key = this.#channelKey(channel);
    const shard = this.#shardOf(nonLocalName(channel));
    if (!shard.subscribed.has(key) || shard.ops.has(key)) await this.listen(channel);
    return await this.#s.mailboxes.receive(channel, options);
  }

  /** Adds `channel` to `group` in this process and subscribes to the group. */
  async groupAdd(group: string, channel: string): Promise<void> {
    this.#s.assertOpen();
    assertGroupName(group);
    assertChannelName(channel);
    this.#s.assertOwn(channel, "groupAdd()");
    await this.connect();
    let members = this.#groups.get(group);
    if (!members) this.#groups.set(group, members = new Set());
    const added = !members.has(channel);
    members.add(channel);
    const key = this.#groupKey(group);
    this.#routes.set(key, { kind: "group", group });
    try {
      await this.#reconcile(this.#shardOf(group), key);
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
      await this.#reconcile(this.#shardOf(group), this.#groupKey(group));
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

  /** The local members of `group` (for tests and introspection). */
  groupMembers(group: string): string[] {
    return [...(this.#groups.get(group) ?? [])];
  }

  /** Forgets local messages and group memberships (unsubscribing groups). Receivers keep waiting. */
  async flush(): Promise<void> {
    this.#s.assertOpen();
    this.#s.mailboxes.clear();
    const groups = [...this.#groups.keys()];
    this.#groups.clear();
    if (this.#s.connecting) {
      await Promise.all(
        groups.map((g) => this.#reconcile(this.#shardOf(g), this.#groupKey(g)).catch(() => {})),
      );
    }
  }

  async #closeShard(shard: Shard): Promise<void> {
    this.#s.releaseWaiters(shard);
    this.#releaseBackWaiters(shard);
    clearTimeout(shard.retryTimer);
    shard.retryTimer = undefined;
    await Promise.all([...shard.ops.values()].map((p) => p.catch(() => {})));
    const sub = shard.subscriber;
    shard.subscriber = undefined;
    if (sub) {
      if (sub.client.isReady) {
        for (const key of shard.subscribed) {
          try {
            await sub.client.unsubscribe(key);
          } catch {
            break; // connection trouble: destroy below
          }
        }
      }
      shard.subscribed.clear();
      shard.unsure.clear();
      await closeLink(sub);
    }
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
