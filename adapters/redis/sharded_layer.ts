/**
 * The shared sharded base of the two Redis channel layers ({@linkcode ShardedLayer}, composed
 * into `pubsub_layer.ts` and `queue_layer.ts`): the hosts (one {@linkcode Shard} per host, names
 * placed by `consistentHash`), each host's command link (opened, waited for, closed), the
 * idempotent `connect()`, the local mailboxes and their `dropped` counts, the layer events and
 * the resync signal, the process-local channel names this instance made, and the `close()`
 * sequence. Each layer adds only what differs: how it hears (subscriber links, readers) and how
 * it sends.
 *
 * @module
 */
import {
  assertChannelName,
  ClosedError,
  getLogger,
  isProcessLocal,
  type LayerEvent,
  LayerEvents,
  LayerUnavailableError,
  nonLocalName,
  randomToken,
  RESYNC_MESSAGE_TYPE,
} from "../../src/layers/kit.ts";
import { deepFreeze, type DropListener, Mailboxes } from "../../src/layers/mailbox.ts";
import { ForeignChannelError } from "../../src/layers/kit.ts";
import {
  allSettledOrThrow,
  assertPrefix,
  type BackoffOptions,
  closeLink,
  openLink,
  type RedisClientLike,
  type RedisHost,
  type RedisLink,
  type RedisTimeouts,
  resolveHosts,
  resolveTimeouts,
} from "./redis_client.ts";
import type { RedisClusterOptions } from "./cluster_client.ts";
import { makeSerializer, type MessageSerializer } from "../../src/layers/kit.ts";
import { consistentHash } from "./shard.ts";

/** What every layer keeps per host: the host and its command link. */
export interface Shard {
  /** Index of the host (in logs, events and errors). */
  index: number;
  /** Where the host is. */
  host: RedisHost;
  /** The command link, once connected. */
  command?: RedisLink;
  /** Waiting for the command link to be ready again ({@linkcode ShardedLayer.commandReady}). */
  commandWaiters: Array<() => void>;
}

/** The options both Redis layers read through {@linkcode ShardedLayer}. */
export interface ShardedLayerOptions {
  /** One Redis URL. */
  url?: string;
  /** Several Redis hosts. */
  hosts?: RedisHost[];
  /** One Redis Cluster. */
  cluster?: RedisClusterOptions;
  /** Prefix of every Redis name. Default `"switchboard"`. */
  prefix?: string;
  /** AES-GCM key strings. */
  encryptionKeys?: string[];
  /** Reconnect backoff of links opened from URLs. */
  backoff?: BackoffOptions;
  /** Connect and command timeouts. */
  timeouts?: RedisTimeouts;
  /** Called for every message dropped in this process. */
  onDrop?: DropListener;
}

/** What a layer tells its {@linkcode ShardedLayer}: the parts that differ. */
export interface ShardedLayerSpec<S extends Shard> {
  /** The layer's name in errors, logs and events (`"Redis pub/sub layer"`). */
  label: string;
  /** Checks the layer's own options (after the prefix, before the hosts and the timeouts). */
  validate?(): void;
  /** Makes the shard of one host from its common part. */
  shard(base: Shard, layer: ShardedLayer<S>): S;
  /** Mailbox capacity and expiry (asked once the hosts are resolved). */
  mailboxes(): {
    capacity: (name: string) => number;
    expiryMs: number;
    onDemand?: (channel: string) => void;
  };
  /** Opens the links of one host (in `connect()`). */
  connectShard(shard: S): Promise<void>;
  /** Closes what `connectShard` opened, after a `connect()` that failed on some host. */
  abandon(shard: S): Promise<void>;
  /** Runs once every host is connected. */
  connected(): Promise<void> | void;
  /** Closes everything of one host (in `close()`). */
  closeShard(shard: S): Promise<void>;
}

/** Hosts, command links, mailboxes, events and lifecycle shared by the Redis layers. */
export class ShardedLayer<S extends Shard> {
  /** The layer's name in errors, logs and events. */
  readonly label: string;
  /** The Redis name prefix. */
  readonly prefix: string;
  /** One shard per host, in host-identity order. */
  readonly shards: S[];
  /** How messages are encoded. */
  readonly serializer: MessageSerializer;
  /** Reconnect backoff of links opened from URLs. */
  readonly backoff: BackoffOptions | undefined;
  /** Connect and command timeouts. */
  readonly timeouts: Required<RedisTimeouts>;
  /** This instance's token in its process-local channel names. */
  readonly token: string = randomToken(12);
  /** Local mailboxes. */
  readonly mailboxes: Mailboxes;
  /** Layer events (`disconnected`, `resync`). */
  readonly events: LayerEvents;
  /** Non-local prefixes (`x.token!`) this instance made with newChannel. */
  readonly ownPrefixes: Set<string> = new Set();
  /** True once `close()` began. */
  closed = false;
  readonly #spec: ShardedLayerSpec<S>;
  #connecting: Promise<void> | undefined;

  /** Checks the common options (then the layer's), resolves the hosts, makes the shards. */
  constructor(options: ShardedLayerOptions, spec: ShardedLayerSpec<S>) {
    this.#spec = spec;
    this.label = spec.label;
    this.events = new LayerEvents(spec.label);
    this.prefix = options.prefix ?? "switchboard";
    assertPrefix(this.prefix);
    spec.validate?.();
    const hosts = resolveHosts(options);
    this.backoff = options.backoff;
    this.timeouts = resolveTimeouts(options.timeouts);
    this.shards = hosts.map((host, index) => spec.shard({ index, host, commandWaiters: [] }, this));
    this.serializer = makeSerializer(options.encryptionKeys);
    this.mailboxes = new Mailboxes({
      ...spec.mailboxes(),
      label: spec.label,
      onDrop: options.onDrop,
    });
  }

  /** True once `connect()` was called (and has not failed). */
  get connecting(): boolean {
    return this.#connecting !== undefined;
  }

  /** Connects every host (idempotent); a failure on one closes what the others opened. */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError(`The ${this.label} is closed`));
    this.#connecting ??= this.#connectAll();
    return this.#connecting;
  }

  async #connectAll(): Promise<void> {
    // Every attempt settles (each is bounded by the connect timeout) before cleaning up, so a
    // failure on one host leaves no link opening on another.
    try {
      await allSettledOrThrow(this.shards.map((s) => this.#spec.connectShard(s)));
    } catch (error) {
      await Promise.all(this.shards.map((s) => this.#spec.abandon(s)));
      this.#connecting = undefined;
      throw error;
    }
    await this.#spec.connected();
  }

  /** Throws `ClosedError` once the layer is closed. */
  assertOpen(): void {
    if (this.closed) throw new ClosedError(`The ${this.label} is closed`);
  }

  /** Subscribes to layer events; returns the unsubscribe function. */
  onEvent(listener: (event: LayerEvent) => void): () => void {
    return this.events.listen(listener);
  }

  /** The shard that holds `name` (already reduced to what is sharded). */
  shardOf(name: string): S {
    return this.shards[consistentHash(name, this.shards.length)];
  }

  /** The Redis key (or channel) of a group. */
  groupKey(group: string): string {
    return `${this.prefix}:group:${group}`;
  }

  /** Makes a process-local channel name of this instance, live in its mailboxes. */
  mintChannel(prefix: string): string {
    const name = `${prefix}.${this.token}!${randomToken(12)}`;
    assertChannelName(name);
    this.mailboxes.markLive(name);
    return name;
  }

  /** Throws {@linkcode ForeignChannelError} for another instance's process-local channel. */
  assertOwn(channel: string, operation: string): void {
    if (isProcessLocal(channel) && !this.ownPrefixes.has(nonLocalName(channel))) {
      throw new ForeignChannelError(channel, operation);
    }
  }

  /** Opens the command link of `shard`; `onUp` runs when it is ready again after an outage. */
  async openCommand(shard: S, label: string, onUp?: () => void): Promise<void> {
    shard.command = await openLink(shard.host, label, {
      duplicate: false,
      backoff: this.backoff,
      timeouts: this.timeouts,
      hooks: {
        onUp: () => {
          this.releaseWaiters(shard);
          onUp?.();
        },
      },
    });
  }

  /** Releases every wait for the command link of `shard`. */
  releaseWaiters(shard: S): void {
    for (const resolve of shard.commandWaiters.splice(0)) resolve();
  }

  /**
   * Resolves once the command link of `shard` can send again, the layer closed, or `ms` passed
   * (no limit without `ms`).
   */
  commandReady(shard: S, ms?: number): Promise<void> {
    if (!shard.command || shard.command.client.isReady || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      shard.commandWaiters.push(done);
    });
  }

  /**
   * The ready command client of `shard` (connecting first); throws `LayerUnavailableError`
   * (prefixed with `what failed: ` when given) while the host is unreachable.
   */
  async command(shard: S, what?: string): Promise<RedisClientLike> {
    await this.connect();
    this.assertOpen();
    const client = shard.command!.client;
    if (!client.isReady) {
      const failed = what === undefined ? "" : `${what} failed: `;
      throw new LayerUnavailableError(`${failed}Redis host ${shard.index} is unavailable`);
    }
    return client;
  }

  /** Releases waits for, then closes, the command link of `shard`. */
  async closeCommand(shard: S): Promise<void> {
    this.releaseWaiters(shard);
    const command = shard.command;
    shard.command = undefined;
    if (command) await closeLink(command);
  }

  /** Delivers `{type: "switchboard.resync", reason}` to every local channel and emits `resync`. */
  signalResync(reason: string): void {
    if (this.closed) return;
    getLogger().warn(`${this.label}: ${reason}`);
    this.mailboxes.broadcast(deepFreeze({ type: RESYNC_MESSAGE_TYPE, reason }));
    this.events.emit({ type: "resync", reason });
  }

  /**
   * Closes the layer: rejects waiting receivers, drops event listeners, lets a `connect()` in
   * flight settle, runs `settle` (the layer's own pending work), then closes every host.
   */
  async close(settle?: () => Promise<void> | void): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.mailboxes.close();
    this.events.clear();
    const connecting = this.#connecting;
    if (connecting) await connecting.catch(() => {});
    await settle?.();
    await Promise.all(this.shards.map((s) => this.#spec.closeShard(s)));
  }
}
