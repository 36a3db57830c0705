/**
 * The Redis queue channel layer: messages wait in Redis sorted sets until read.
 *
 * Key layout (prefix `p`, default `switchboard`):
 * - `p:q:<channel>`: the queue of a normal channel (score = send time in epoch ms);
 * - `p:q:<owner>!`: the inbox of one process (all its process-local channels `<owner>!x`), each
 *   entry listing the channels it is for, so a group send stores one entry per process;
 * - `p:group:<group>`: group members (score = time of the last `groupAdd`).
 *
 * Entries are `<20-char header><JSON array of target channels>\n<payload>` (see `scripts.ts`).
 *
 * @module
 */
import {
  assertChannelName,
  assertGroupName,
  capacityLookup,
  type CapacityOptions,
  ChannelFull,
  type ChannelLayer,
  ClosedError,
  getLogger,
  isProcessLocal,
  type LayerEvent,
  LayerEvents,
  type LayerMessage,
  LayerUnavailableError,
  nonLocalName,
  randomToken,
  type ReceiveOptions,
  RESYNC_MESSAGE_TYPE,
} from "../../src/layer_api.ts";
import { ForeignChannelError } from "./errors.ts";
import { deepFreeze, type DropListener, Mailboxes } from "../../src/mailbox.ts";
import {
  allSettledOrThrow,
  assertPrefix,
  type BackoffOptions,
  closeConnection,
  type Connection,
  openConnection,
  type RedisHost,
  type RedisTimeouts,
  resolveHosts,
  resolveTimeouts,
  unavailable,
} from "./redis_client.ts";
import {
  DELIVER,
  globToLuaPattern,
  GROUP_ADD,
  GROUP_MEMBERS,
  GROUP_SEND,
  HEADER_LENGTH,
  READ,
} from "./scripts.ts";
import { makeSerializer, type MessageSerializer } from "./serializer.ts";
import { consistentHash } from "./shard.ts";

/** Options of {@linkcode RedisQueueChannelLayer}. */
export interface RedisQueueChannelLayerOptions extends CapacityOptions {
  /** One Redis URL (default `redis://127.0.0.1:6379`). Use `hosts` for several. */
  url?: string;
  /** Several Redis hosts (URLs or node-redis clients); names are sharded over them. */
  hosts?: RedisHost[];
  /** Prefix of every Redis key. Default `"switchboard"`. */
  prefix?: string;
  /** Seconds a message may wait (in Redis or in the process) before it is dropped. Default 60. */
  expiry?: number;
  /** Seconds a group membership lasts without a new `groupAdd`. Default 86400. */
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

interface Shard {
  index: number;
  host: RedisHost;
  command?: Connection;
  reader?: Connection;
  readerId?: string;
  readerStarting?: Promise<void>;
  loop?: Promise<void>;
  /** Inbox keys of this process on this shard. */
  inboxes: Set<string>;
  /** Bumped whenever the set of keys to read changes. */
  gen: number;
  blocking: boolean;
  blockingGen: number;
  wake?: () => void;
  unblocking?: Promise<void>;
  down: boolean;
  runId?: string;
  readyWaiters: Array<() => void>;
  /** Waiting for the command connection to be ready again (resync waits for it). */
  commandWaiters: Array<() => void>;
  busy: boolean;
  idleWaiters: Array<() => void>;
  pause?: { timer: ReturnType<typeof setTimeout>; resolve: () => void };
}

const BLOCK_SECONDS = "2";

function luaRules(options: CapacityOptions): string[] | undefined {
  const entries = Array.isArray(options.channelCapacity)
    ? options.channelCapacity
    : Object.entries(options.channelCapacity ?? {});
  const out = [String(entries.length)];
  for (const [pattern, capacity] of entries) {
    if (typeof pattern !== "string") return undefined;
    out.push(globToLuaPattern(pattern), String(capacity));
  }
  return out;
}

/**
 * A channel layer over Redis sorted sets (persistent until expiry, capacity enforced in Redis).
 *
 * - A direct send to a normal channel throws `ChannelFull` when its queue holds `capacity`
 *   messages (atomically, in Lua); a send to a process-local channel when the owner's inbox holds
 *   `inboxCapacity` unread entries (the owner is gone or stalled). Group sends skip full
 *   destinations and log them.
 * - One long-lived reader per host and process pops entries (batched, `ZPOPMIN`/`BZPOPMIN` on a
 *   dedicated connection) into bounded local mailboxes; `receive()` only waits on a mailbox, so
 *   aborting it loses nothing. Normal channels are read on demand: an entry is popped only while a
 *   `receive()` waits for it, then kept in the mailbox even if that receive is aborted meanwhile.
 * - Expiry is enforced when a message is delivered (send time + `expiry`), not only on send.
 * - Group send is one Lua round trip with one host; with several hosts, one read of the group on
 *   its host and then one Lua call per destination host, in parallel.
 * - When a reader reconnects to a Redis server that restarted (its `run_id` changed), queued
 *   messages may be gone: the layer delivers `{type: "switchboard.resync"}` into every local
 *   channel and emits a `resync` event.
 */
export class RedisQueueChannelLayer implements ChannelLayer {
  /** Optional features. */
  readonly extensions: readonly string[] = ["groups", "flush"];
  /** The Redis key prefix. */
  readonly prefix: string;
  /** Message expiry in seconds. */
  readonly expiry: number;
  /** Group membership expiry in seconds. */
  readonly groupExpiry: number;
  readonly #expiryMs: number;
  readonly #groupExpiryMs: number;
  readonly #inboxCapacity: number;
  readonly #capacity: (name: string) => number;
  readonly #luaRules: string[] | undefined;
  readonly #readBatch: string;
  readonly #shards: Shard[];
  readonly #serializer: MessageSerializer;
  readonly #backoff: BackoffOptions | undefined;
  readonly #timeouts: RedisTimeouts | undefined;
  readonly #token = randomToken(12);
  readonly #senderToken = randomToken(8);
  #seq = 0;
  readonly #mailboxes: Mailboxes;
  readonly #events = new LayerEvents("Redis queue layer");
  #ownPrefixes = new Set<string>();
  /** Normal channels that receivers wait on. */
  #demand = new Set<string>();
  #connecting: Promise<void> | undefined;
  #closed = false;
  /** Set while flush() runs: readers pause so nothing popped before it survives it. */
  #flushGate: Promise<void> | undefined;

  /** Creates a layer; it connects on first use or on {@linkcode connect}. */
  constructor(options: RedisQueueChannelLayerOptions = {}) {
    this.prefix = options.prefix ?? "switchboard";
    assertPrefix(this.prefix);
    this.expiry = options.expiry ?? 60;
    this.groupExpiry = options.groupExpiry ?? 86400;
    if (!(this.expiry > 0)) throw new TypeError("expiry must be a positive number of seconds");
    if (!(this.groupExpiry > 0)) {
      throw new TypeError("groupExpiry must be a positive number of seconds");
    }
    this.#expiryMs = Math.max(1, Math.round(this.expiry * 1000));
    this.#groupExpiryMs = Math.max(1, Math.round(this.groupExpiry * 1000));
    this.#inboxCapacity = options.inboxCapacity ?? 10_000;
    this.#capacity = capacityLookup(options);
    this.#luaRules = luaRules(options);
    this.#readBatch = String(options.readBatch ?? 128);
    this.#shards = resolveHosts(options).map((host, index) => ({
      index,
      host,
      inboxes: new Set(),
      gen: 0,
      blocking: false,
      blockingGen: -1,
      down: false,
      readyWaiters: [],
      commandWaiters: [],
      busy: false,
      idleWaiters: [],
    }));
    this.#serializer = makeSerializer(options.encryptionKeys);
    this.#backoff = options.backoff;
    this.#timeouts = resolveTimeouts(options.timeouts);
    this.#mailboxes = new Mailboxes({
      capacity: this.#capacity,
      expiryMs: this.#expiryMs,
      label: "Redis queue layer",
      onDrop: options.onDrop,
      onDemand: (channel) => {
        if (isProcessLocal(channel)) return;
        this.#demand.add(channel);
        this.#kick(this.#shardOf(channel));
      },
    });
  }

  /** Messages dropped in this process so far, by reason. */
  get dropped(): { expired: number; full: number; invalid: number } {
    return this.#mailboxes.dropped;
  }

  /** Number of Redis hosts. */
  get hostCount(): number {
    return this.#shards.length;
  }

  /** Opens the command connection of every host (idempotent); readers open on first need. */
  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError("The Redis queue layer is closed"));
    this.#connecting ??= (async () => {
      try {
        await allSettledOrThrow(this.#shards.map(async (shard) => {
          shard.command = await openConnection(shard.host, `queue host ${shard.index}`, {
            duplicate: false,
            backoff: this.#backoff,
            timeouts: this.#timeouts,
            hooks: { onUp: () => this.#commandUp(shard) },
          });
        }));
      } catch (error) {
        // Only the command connections: a reader that is starting waits for this very
        // connect() (closing the whole shard here would wait for it: a deadlock).
        await Promise.all(this.#shards.map(async (s) => {
          const command = s.command;
          s.command = undefined;
          if (command) await closeConnection(command);
        }));
        this.#connecting = undefined;
        throw error;
      }
    })();
    return this.#connecting;
  }

  #open(): void {
    if (this.#closed) throw new ClosedError("The Redis queue layer is closed");
  }

  /** Subscribes to layer events (`disconnected`, `resync`); returns the unsubscribe function. */
  onEvent(listener: (event: LayerEvent) => void): () => void {
    return this.#events.listen(listener);
  }

  #shardOf(name: string): Shard {
    return this.#shards[consistentHash(nonLocalName(name), this.#shards.length)];
  }

  #key(channel: string): string {
    return `${this.prefix}:q:${nonLocalName(channel)}`;
  }

  #groupKey(group: string): string {
    return `${this.prefix}:group:${group}`;
  }

  #header(): string {
    const seq = (this.#seq++).toString(36).padStart(12, "0");
    return seq + this.#senderToken;
  }

  async #command(shard: Shard) {
    await this.connect();
    this.#open();
    const client = shard.command!.client;
    if (!client.isReady) {
      throw new LayerUnavailableError(`Redis host ${shard.index} is unavailable`);
    }
    return client;
  }

  // ---------------------------------------------------------------- reader

  async #ensureReader(shard: Shard): Promise<void> {
    if (shard.loop) return;
    shard.readerStarting ??= (async () => {
      await this.connect();
      const reader = await openConnection(shard.host, `queue host ${shard.index} (reader)`, {
        duplicate: true,
        backoff: this.#backoff,
        timeouts: this.#timeouts,
        hooks: {
          onDown: (reason) => {
            if (shard.down || this.#closed) return;
            shard.down = true;
            this.#events.emit({
              type: "disconnected",
              reason: `Redis host ${shard.index}: ${reason}`,
            });
          },
          onUp: () => {
            for (const resolve of shard.readyWaiters.splice(0)) resolve();
          },
        },
      });
      if (this.#closed) {
        await closeConnection(reader);
        throw new ClosedError("The Redis queue layer is closed");
      }
      shard.reader = reader;
      shard.readerId = String(await reader.client.sendCommand(["CLIENT", "ID"]));
      shard.runId = await this.#runId(reader);
      shard.loop = this.#readLoop(shard, reader);
    })();
    try {
      await shard.readerStarting;
    } catch (error) {
      shard.readerStarting = undefined;
      throw error;
    }
  }

  async #runId(conn: Connection): Promise<string | undefined> {
    try {
      const info = String(await conn.client.sendCommand(["INFO", "server"]));
      return /run_id:([0-9a-f]+)/.exec(info)?.[1];
    } catch {
      return undefined;
    }
  }

  #readKeys(shard: Shard): [string[], string[]] {
    const keys: string[] = [];
    const counts: string[] = [];
    for (const key of shard.inboxes) {
      keys.push(key);
      counts.push(this.#readBatch);
    }
    for (const channel of this.#demand) {
      const waiting = this.#mailboxes.waiting(channel);
      if (waiting === 0) {
        this.#demand.delete(channel);
      } else if (this.#shardOf(channel) === shard) {
        keys.push(this.#key(channel));
        counts.push(String(waiting));
      }
    }
    return [keys, counts];
  }

  #kick(shard: Shard): void {
    shard.gen++;
    if (shard.wake) {
      const wake = shard.wake;
      shard.wake = undefined;
      wake();
      return;
    }
    if (!shard.loop && !this.#closed) {
      this.#ensureReader(shard).catch((error) =>
        getLogger().warn(`Redis queue layer: cannot start reader: ${error}`)
      );
      return;
    }
    if (shard.blocking && shard.blockingGen < shard.gen) this.#unblock(shard);
  }

  /** Makes the reader's blocking pop return (as a timeout: nothing is popped) so it re-reads keys. */
  #unblock(shard: Shard): Promise<void> {
    shard.unblocking ??= (async () => {
      try {
        for (let i = 0; i < 50; i++) {
          if (!shard.blocking || (!this.#closed && shard.blockingGen >= shard.gen)) return;
          const client = shard.command?.client;
          if (!client?.isReady || !shard.readerId) return;
          const done = await client.sendCommand(["CLIENT", "UNBLOCK", shard.readerId]);
          if (Number(done) === 1) return;
          // The BZPOPMIN has not reached Redis yet: try again shortly.
          await new Promise((r) => setTimeout(r, 2));
        }
      } catch (error) {
        getLogger().debug(`Redis queue layer: CLIENT UNBLOCK failed: ${error}`);
      } finally {
        shard.unblocking = undefined;
      }
    })();
    return shard.unblocking;
  }

  #waitReady(shard: Shard, conn: Connection): Promise<void> {
    if (conn.client.isReady || this.#closed) return Promise.resolve();
    return new Promise((resolve) => shard.readyWaiters.push(resolve));
  }

  #pauseFor(shard: Shard, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        shard.pause = undefined;
        resolve();
      }, ms);
      shard.pause = { timer, resolve };
    });
  }

  async #readLoop(shard: Shard, conn: Connection): Promise<void> {
    const client = conn.client;
    let failures = 0;
    while (!this.#closed) {
      while (this.#flushGate && !this.#closed) await this.#flushGate;
      const [keys, counts] = this.#readKeys(shard);
      if (keys.length === 0) {
        await new Promise<void>((resolve) => shard.wake = resolve);
        continue;
      }
      let failed: unknown;
      shard.busy = true;
      try {
        let rows = (await READ.run(client, keys, counts)) as unknown[];
        if (failures) {
          failures = 0;
          await this.#recovered(shard, conn);
        }
        if (rows.length === 0 && !this.#closed && !this.#flushGate) {
          shard.blockingGen = shard.gen;
          shard.blocking = true;
          try {
            const popped = await client.sendCommand(["BZPOPMIN", ...keys, BLOCK_SECONDS]);
            rows = (popped as unknown[] | null) ?? [];
          } finally {
            shard.blocking = false;
          }
        }
        for (let i = 0; i + 2 < rows.length; i += 3) {
          const dispatched = this.#dispatch(
            String(rows[i]),
            String(rows[i + 1]),
            Number(rows[i + 2]),
          );
          if (dispatched) await dispatched;
        }
      } catch (error) {
        failed = error ?? new Error("unknown reader failure");
      } finally {
        shard.busy = false;
        for (const resolve of shard.idleWaiters.splice(0)) resolve();
      }
      if (failed === undefined || this.#closed) continue;
      failures++;
      if (!client.isReady) {
        await this.#waitReady(shard, conn);
      } else {
        getLogger().error(`Redis queue layer: reader on host ${shard.index} failed`, {
          error: failed,
        });
        await this.#pauseFor(shard, Math.min(50 * 2 ** failures, 2000));
      }
    }
  }

  #commandUp(shard: Shard): void {
    for (const resolve of shard.commandWaiters.splice(0)) resolve();
  }

  /** Resolves once the host's command connection can send again (or the layer closed). */
  #commandReady(shard: Shard): Promise<void> {
    if (!shard.command || shard.command.client.isReady || this.#closed) return Promise.resolve();
    return new Promise((resolve) => shard.commandWaiters.push(resolve));
  }

  async #recovered(shard: Shard, conn: Connection): Promise<void> {
    shard.down = false;
    const runId = await this.#runId(conn);
    if (runId && shard.runId && runId !== shard.runId) {
      // Signal only when sending works again: onResync handlers usually send at once.
      await this.#commandReady(shard);
      const reason =
        `Redis host ${shard.index} restarted: messages queued there before may have been lost`;
      getLogger().warn(`Redis queue layer: ${reason}`);
      this.#mailboxes.broadcast(deepFreeze({ type: RESYNC_MESSAGE_TYPE, reason }));
      this.#events.emit({ type: "resync", reason });
    }
    if (runId) shard.runId = runId;
  }

  /** Hands one popped entry to local mailboxes; returns a promise only when decoding is async. */
  #dispatch(key: string, member: string, sentAt: number): Promise<void> | undefined {
    const owner = key.slice(this.prefix.length + 3);
    const nl = member.indexOf("\n", HEADER_LENGTH);
    let targets: string[];
    try {
      if (nl === -1) throw new Error("no target line");
      targets = JSON.parse(member.slice(HEADER_LENGTH, nl));
      if (!Array.isArray(targets)) throw new Error("targets are not an array");
    } catch (error) {
      this.#mailboxes.drop(owner, "invalid", 1, `malformed queue entry: ${error}`);
      return;
    }
    if (!isProcessLocal(owner)) targets = [owner];
    const deadline = sentAt + this.#expiryMs;
    if (deadline <= Date.now()) {
      for (const t of targets) this.#mailboxes.drop(t, "expired");
      return;
    }
    const deliver = (message: LayerMessage) => {
      const frozen = deepFreeze(message);
      for (const t of targets) this.#mailboxes.deliver(t, frozen, deadline);
    };
    const body = member.slice(nl + 1);
    try {
      const decoded = this.#serializer.decode(body);
      if (!(decoded instanceof Promise)) {
        deliver(decoded);
        return;
      }
      return decoded.then(deliver, (error) => {
        for (const t of targets) this.#mailboxes.drop(t, "invalid", 1, String(error));
      });
    } catch (error) {
      for (const t of targets) this.#mailboxes.drop(t, "invalid", 1, String(error));
    }
  }

  // ---------------------------------------------------------------- contract

  /** Creates a process-local channel name; this process's reader reads its inbox. */
  async newChannel(prefix = "specific"): Promise<string> {
    this.#open();
    const name = `${prefix}.${this.#token}!${randomToken(12)}`;
    assertChannelName(name);
    const owner = nonLocalName(name);
    this.#mailboxes.markLive(name);
    if (!this.#ownPrefixes.has(owner)) {
      this.#ownPrefixes.add(owner);
      const shard = this.#shardOf(owner);
      shard.inboxes.add(this.#key(owner));
      await this.#ensureReader(shard);
      this.#kick(shard);
    }
    return name;
  }

  /** Queues `message` for `channel`; throws `ChannelFull` or `LayerUnavailableError`. */
  async send(channel: string, message: LayerMessage): Promise<void> {
    this.#open();
    assertChannelName(channel);
    const body = await this.#serializer.encode(message);
    const local = isProcessLocal(channel);
    const shard = this.#shardOf(channel);
    const client = await this.#command(shard);
    let full: unknown;
    try {
      full = await DELIVER.run(client, [this.#key(channel)], [
        String(Date.now()),
        String(this.#expiryMs),
        this.#header(),
        body,
        String(local ? this.#inboxCapacity : this.#capacity(channel)),
        local ? JSON.stringify([channel]) : "[]",
      ]);
    } catch (error) {
      throw unavailable(`send to ${channel}`, error);
    }
    if ((full as unknown[]).length) throw new ChannelFull(channel);
  }

  /** Waits for the next message on `channel` (a normal one, or one this instance created). */
  async receive(channel: string, options: ReceiveOptions = {}): Promise<LayerMessage> {
    this.#open();
    assertChannelName(channel);
    if (isProcessLocal(channel) && !this.#ownPrefixes.has(nonLocalName(channel))) {
      throw new ForeignChannelError(channel, "receive()");
    }
    if (options.signal?.aborted) throw options.signal.reason;
    const shard = this.#shardOf(channel);
    if (!shard.loop) await this.#ensureReader(shard);
    return await this.#mailboxes.receive(channel, options);
  }

  /** Adds (or renews) `channel` in `group`, in Redis: any process may add any channel. */
  async groupAdd(group: string, channel: string): Promise<void> {
    this.#open();
    assertGroupName(group);
    assertChannelName(channel);
    const client = await this.#command(this.#shardOf(group));
    try {
      await GROUP_ADD.run(client, [this.#groupKey(group)], [
        String(Date.now()),
        channel,
        String(this.#groupExpiryMs),
      ]);
    } catch (error) {
      throw unavailable(`groupAdd ${group}`, error);
    }
  }

  /** Removes `channel` from `group`. */
  async groupDiscard(group: string, channel: string): Promise<void> {
    this.#open();
    assertGroupName(group);
    assertChannelName(channel);
    const client = await this.#command(this.#shardOf(group));
    try {
      await client.sendCommand(["ZREM", this.#groupKey(group), channel]);
    } catch (error) {
      throw unavailable(`groupDiscard ${group}`, error);
    }
  }

  /** Sends one entry per destination (process inbox or normal channel); full ones are logged. */
  async groupSend(group: string, message: LayerMessage): Promise<void> {
    this.#open();
    assertGroupName(group);
    const body = await this.#serializer.encode(message);
    const now = String(Date.now());
    const header = this.#header();
    const groupShard = this.#shardOf(group);
    const client = await this.#command(groupShard);
    let total = 0;
    let full = 0;
    try {
      if (this.#shards.length === 1 && this.#luaRules) {
        const [n, f] = (await GROUP_SEND.run(client, [this.#groupKey(group)], [
          now,
          String(this.#expiryMs),
          String(this.#groupExpiryMs),
          `${this.prefix}:q:`,
          header,
          body,
          String(this.#inboxCapacity),
          String(this.#capacity("")),
          ...this.#luaRules,
        ])) as number[];
        total = Number(n);
        full = Number(f);
      } else {
        const members = (await GROUP_MEMBERS.run(client, [this.#groupKey(group)], [
          now,
          String(this.#groupExpiryMs),
        ])) as string[];
        const buckets = new Map<string, string[]>();
        for (const channel of members) {
          const owner = nonLocalName(channel);
          let list = buckets.get(owner);
          if (!list) buckets.set(owner, list = []);
          if (isProcessLocal(channel)) list.push(channel);
        }
        total = buckets.size;
        const perShard = new Map<Shard, { keys: string[]; args: string[] }>();
        for (const [owner, list] of buckets) {
          const shard = this.#shardOf(owner);
          let batch = perShard.get(shard);
          if (!batch) {
            perShard.set(
              shard,
              batch = { keys: [], args: [now, String(this.#expiryMs), header, body] },
            );
          }
          batch.keys.push(this.#key(owner));
          batch.args.push(
            String(isProcessLocal(owner) ? this.#inboxCapacity : this.#capacity(owner)),
            JSON.stringify(list),
          );
        }
        const results = await Promise.all(
          [...perShard].map(async ([shard, batch]) =>
            (await DELIVER.run(await this.#command(shard), batch.keys, batch.args)) as unknown[]
          ),
        );
        for (const r of results) full += r.length;
      }
    } catch (error) {
      throw unavailable(`groupSend to ${group}`, error);
    }
    if (full) {
      this.#mailboxes.drop(
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
      String(Date.now()),
      String(this.#groupExpiryMs),
    ])) as string[];
  }

  /** Deletes every key under `<prefix>:` on every host (SCAN, not KEYS) and local messages. */
  async flush(): Promise<void> {
    this.#open();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const previous = this.#flushGate;
    this.#flushGate = gate;
    try {
      await previous;
      // Let every reader finish (or abandon) its current read, so that nothing popped before the
      // keys are deleted reaches a mailbox after the flush.
      await Promise.all(this.#shards.map(async (shard) => {
        if (!shard.busy) return;
        const idle = new Promise<void>((resolve) => shard.idleWaiters.push(resolve));
        shard.gen++;
        if (shard.blocking) await this.#unblock(shard);
        await idle;
      }));
      await Promise.all(this.#shards.map(async (shard) => {
        const client = await this.#command(shard);
        let cursor = "0";
        do {
          const reply = (await client.sendCommand([
            "SCAN",
            cursor,
            "MATCH",
            `${this.prefix}:*`,
            "COUNT",
            "1000",
          ])) as [string, string[]];
          cursor = String(reply[0]);
          if (reply[1].length) await client.sendCommand(["UNLINK", ...reply[1]]);
        } while (cursor !== "0");
      }));
    } catch (error) {
      throw unavailable("flush", error);
    } finally {
      this.#mailboxes.clear();
      if (this.#flushGate === gate) this.#flushGate = undefined;
      release();
    }
  }

  async #closeShard(shard: Shard): Promise<void> {
    if (shard.readerStarting) await shard.readerStarting.catch(() => {});
    shard.wake?.();
    shard.wake = undefined;
    if (shard.pause) {
      clearTimeout(shard.pause.timer);
      shard.pause.resolve();
      shard.pause = undefined;
    }
    for (const resolve of shard.readyWaiters.splice(0)) resolve();
    for (const resolve of shard.commandWaiters.splice(0)) resolve();
    if (shard.loop) {
      if (shard.blocking) await this.#unblock(shard);
      if (shard.blocking) shard.reader?.client.destroy();
      await shard.loop.catch(() => {});
    }
    await shard.unblocking;
    const reader = shard.reader;
    shard.reader = undefined;
    if (reader) {
      await closeConnection(reader);
    }
    const command = shard.command;
    shard.command = undefined;
    if (command) {
      await closeConnection(command);
    }
  }

  /** Stops the readers, closes every connection the layer opened, rejects waiting receivers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#mailboxes.close();
    this.#events.clear();
    if (this.#connecting) await this.#connecting.catch(() => {});
    await Promise.all(this.#shards.map((s) => this.#closeShard(s)));
  }
}
