/**
 * The NATS channel layer: core NATS subjects, low latency, no persistence (the NATS counterpart
 * of the Redis pub/sub layer). The subject layout is in `subjects.ts`, the connection handling
 * (bounded confirmations, up/down state) in `link.ts`.
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
  getLogger,
  isProcessLocal,
  type LayerEvent,
  LayerEvents,
  type LayerMessage,
  nonLocalName,
  randomToken,
  type ReceiveOptions,
  type ReceiveSink,
  RESYNC_MESSAGE_TYPE,
} from "../../src/layers/kit.ts";
import { deepFreeze, type DropListener, Mailboxes } from "../../src/layers/mailbox.ts";
import { makeSerializer, type MessageSerializer } from "../../src/layers/kit.ts";
import { ForeignChannelError, MessageTooLargeError } from "./errors.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import type {
  HistoryCapability,
  HistoryOptions,
  HistoryRead,
  HistoryReadOptions,
  StreamPosition,
} from "../../src/layers/history.ts";
import { NatsHistories } from "./history.ts";
import { stampFromTarget } from "../../src/layers/kit.ts";
import {
  type LinkHooks,
  type LinkSource,
  type NatsBackoffOptions,
  type NatsConnectionLike,
  NatsLink,
  type NatsSubscriptionLike,
  type NatsTimeouts,
  resolveNatsTimeouts,
} from "./link.ts";
import {
  assertSubjectPrefix,
  channelSubject,
  framePayload,
  groupSubject,
  splitPayload,
} from "./subjects.ts";

/** Options of {@linkcode NatsChannelLayer}. */
export interface NatsChannelLayerOptions extends CapacityOptions {
  /**
   * NATS server URLs (default `nats://127.0.0.1:4222`); the layer opens one connection to them,
   * reconnects forever with `backoff`, and closes it on `close()`.
   */
  servers?: string | string[];
  /** A connection of your own instead of `servers` (the layer never closes it). */
  connection?: NatsConnectionLike;
  /**
   * A second connection of your own for the subscriptions (default: the same one as for
   * publishing). Keeps a slow fan-out from delaying publishes; each role then drops and comes
   * back on its own, and the resync is signalled once both are back.
   */
  subscriber?: NatsConnectionLike;
  /** Prefix of every subject. Default `"switchboard"`. */
  prefix?: string;
  /** Seconds a message may wait in a local mailbox before it is dropped. Default 60. */
  expiry?: number;
  /** AES-GCM key strings; the first encrypts, all are tried to decrypt. Default: plain JSON. */
  encryptionKeys?: string[];
  /** Reconnect backoff of the connection the layer opens from `servers`. */
  backoff?: NatsBackoffOptions;
  /**
   * Connect and confirmation timeouts (default 5 s each): past them, calls fail with
   * {@linkcode LayerUnavailableError} instead of waiting for an unreachable or paused server.
   */
  timeouts?: NatsTimeouts;
  /** Called for every message dropped in this process (full mailbox, expired, undecodable). */
  onDrop?: DropListener;
}

type Route = { kind: "local" } | { kind: "channel"; channel: string } | {
  kind: "group";
  group: string;
};

const LABEL = "NATS layer";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A channel layer over core NATS.
 *
 * - A group is one subject; a process subscribes to it only while it has local members, so a
 *   process receives nothing of a group it has no member in. One publish per group send; each
 *   subscribed process fans out to its local members.
 * - Messages published while a process is disconnected are lost (core NATS keeps nothing). When
 *   its connection is back (the client re-subscribes by itself) the layer delivers
 *   `{type: "switchboard.resync", reason}` into every local channel and emits a `resync`
 *   {@linkcode LayerEvent}, once it can publish again; it emits `disconnected` when a connection
 *   drops.
 * - Every publish and subscribe is confirmed by the server (a PING/PONG shared by the writes of
 *   one tick); while NATS is away or paused, calls fail within `timeouts` with
 *   {@linkcode LayerUnavailableError}.
 * - Local mailboxes are bounded by `capacity` / `channelCapacity`; overflow is dropped, counted
 *   in {@linkcode NatsChannelLayer.dropped} and logged. `send` never throws `ChannelFull` (the
 *   sender cannot see a remote mailbox), and there is no membership expiry: memberships live in
 *   the memory of the process that owns the channel.
 * - A normal channel is only heard by processes that subscribed before the publish: call
 *   {@linkcode NatsChannelLayer.listen} (or `receive`) first. Every subscribed process gets a
 *   copy.
 * - A message larger than the server's `max_payload` (1 MB by default) is refused with
 *   {@linkcode MessageTooLargeError}.
 */
export class NatsChannelLayer implements ChannelLayer, HistoryCapability {
  /** Optional features (`history`: on JetStream, see history.ts; the server must run `-js`). */
  readonly extensions: readonly string[] = ["groups", "flush", "history"];
  /** The subject prefix. */
  readonly prefix: string;
  readonly #token = randomToken(12);
  readonly #mailboxes: Mailboxes;
  readonly #events = new LayerEvents(LABEL);
  readonly #serializer: MessageSerializer;
  /** Group histories on JetStream (history.ts). */
  readonly #histories: NatsHistories;
  /** The connection publishes go on. */
  readonly #pub: NatsLink;
  /** The connection subscriptions live on (the same link unless `subscriber` was given). */
  readonly #sub: NatsLink;
  /** Local group members, by group. */
  #groups = new Map<string, MemberSet>();
  /** Subject → what it carries. */
  #routes = new Map<string, Route>();
  #subs = new Map<string, NatsSubscriptionLike>();
  /** Non-local prefixes (`x.token!`) this instance made with newChannel. */
  #ownPrefixes = new Set<string>();
  #connecting: Promise<void> | undefined;
  #closed = false;
  #resyncPending = false;
  #resyncing = false;
  #decodeChain: Promise<void> = Promise.resolve();

  /** Creates a layer; it connects on first use or on {@linkcode connect}. */
  constructor(options: NatsChannelLayerOptions = {}) {
    this.prefix = options.prefix ?? "switchboard";
    assertSubjectPrefix(this.prefix);
    const expiry = options.expiry ?? 60;
    if (!(expiry > 0)) throw new TypeError("expiry must be a positive number of seconds");
    if (options.connection && options.servers !== undefined) {
      throw new TypeError("give either servers or a connection, not both");
    }
    if (options.subscriber && !options.connection) {
      throw new TypeError("a subscriber connection needs a connection for publishing too");
    }
    const timeouts = resolveNatsTimeouts(options.timeouts);
    const servers = [options.servers ?? "nats://127.0.0.1:4222"].flat();
    if (servers.length === 0) throw new TypeError("servers must name at least one NATS server");
    const link = (source: LinkSource, label: string, hooks: LinkHooks) =>
      new NatsLink(source, label, { timeouts, backoff: options.backoff, hooks });
    const resyncHooks: LinkHooks = {
      down: (reason) => {
        this.#resyncPending = true;
        this.#events.emit({ type: "disconnected", reason });
      },
      up: () => this.#tryResync(),
    };
    if (options.subscriber) {
      this.#pub = link({ connection: options.connection! }, "publisher", {
        down: (reason) => this.#events.emit({ type: "disconnected", reason }),
        up: () => this.#tryResync(),
      });
      this.#sub = link({ connection: options.subscriber }, "subscriber", resyncHooks);
    } else {
      const source = options.connection ? { connection: options.connection } : { servers };
      this.#pub = this.#sub = link(source, "layer", resyncHooks);
    }
    this.#serializer = makeSerializer(options.encryptionKeys);
    this.#histories = new NatsHistories({
      prefix: this.prefix,
      serializer: this.#serializer,
      timeoutMs: timeouts.commandTimeoutMs,
      connection: async (what) => {
        await this.connect();
        this.#assertOpen();
        return this.#pub.assertUp(what) as NatsConnection;
      },
    });
    this.#mailboxes = new Mailboxes({
      capacity: capacityLookup(options),
      expiryMs: expiry * 1000,
      label: LABEL,
      onDrop: options.onDrop,
    });
  }

  /** Messages dropped in this process so far, by reason. */
  get dropped(): { expired: number; full: number; invalid: number } {
    return this.#mailboxes.dropped;
  }

  /** Opens the connection(s) (idempotent); throws LayerUnavailableError when NATS is away. */
  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError(`The ${LABEL} is closed`));
    this.#connecting ??= (async () => {
      try {
        await Promise.all([this.#pub.open(), this.#sub.open()]);
      } catch (error) {
        this.#connecting = undefined;
        throw error;
      }
    })();
    return this.#connecting;
  }

  /** Subscribes to layer events (`disconnected`, `resync`); returns the unsubscribe function. */
  onEvent(listener: (event: LayerEvent) => void): () => void {
    return this.#events.listen(listener);
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`The ${LABEL} is closed`);
  }

  #assertOwn(channel: string, operation: string): void {
    if (isProcessLocal(channel) && !this.#ownPrefixes.has(nonLocalName(channel))) {
      throw new ForeignChannelError(channel, operation);
    }
  }

  /** Signals the pending resync once both roles are up and confirmed (after an outage). */
  #tryResync(): void {
    if (!this.#resyncPending || this.#resyncing || this.#closed) return;
    if (!this.#pub.up || !this.#sub.up) return;
    this.#resyncing = true;
    const both = this.#pub === this.#sub ? [this.#sub] : [this.#sub, this.#pub];
    Promise.all(both.map((l) => l.confirm("resync"))).then(() => {
      this.#resyncing = false;
      if (this.#closed || !this.#resyncPending) return;
      this.#resyncPending = false;
      const reason = "NATS reconnected: messages published while it was unreachable were lost";
      getLogger().warn(`${LABEL}: ${reason}`);
      this.#mailboxes.broadcast(deepFreeze({ type: RESYNC_MESSAGE_TYPE, reason }));
      this.#events.emit({ type: "resync", reason });
    }, () => {
      // Dropped again before the confirmation: the next reconnect tries again.
      this.#resyncing = false;
      this.#tryResync();
    });
  }

  #wanted(subject: string): boolean {
    const route = this.#routes.get(subject);
    if (!route) return false;
    if (route.kind === "group") return (this.#groups.get(route.group)?.size ?? 0) > 0;
    return true;
  }

  /** Subscribes to `subject` (once) and waits until the server confirmed the subscription. */
  async #subscribe(subject: string, what: string): Promise<void> {
    await this.connect();
    this.#assertOpen();
    const nc = this.#sub.assertUp(what);
    if (!this.#subs.has(subject)) {
      const sub = nc.subscribe(subject, {
        callback: (error, msg) => {
          if (!error) this.#onMessage(subject, msg.data);
        },
      });
      this.#subs.set(subject, sub);
    }
    await this.#sub.confirm(what);
  }

  /** Unsubscribes from `subject` unless something local still needs it. */
  #release(subject: string): void {
    if (this.#wanted(subject)) return;
    this.#routes.delete(subject);
    const sub = this.#subs.get(subject);
    if (!sub) return;
    this.#subs.delete(subject);
    // No confirmation needed: a late message finds no route (or no member) and is ignored.
    if (!this.#sub.connection.isClosed()) sub.unsubscribe();
  }

  #onMessage(subject: string, data: Uint8Array): void {
    const route = this.#routes.get(subject);
    if (!route) return; // unsubscribed meanwhile
    const parts = splitPayload(decoder.decode(data));
    if (!parts) {
      this.#mailboxes.drop(subject, "invalid", 1, "payload without a target line");
      return;
    }
    const { target, body } = parts;
    const deliver = (decoded: LayerMessage) => {
      // A group message sent with history carries its position on the target line.
      const message = route.kind === "group" && target
        ? stampFromTarget(decoded, route.group, target)
        : decoded;
      const frozen = deepFreeze(message);
      const deadline = this.#mailboxes.deadline();
      if (route.kind === "group") {
        const members = this.#groups.get(route.group);
        if (members) this.#mailboxes.deliverToGroup(this, route.group, members, frozen, deadline);
      } else if (route.kind === "channel") {
        this.#mailboxes.deliver(route.channel, frozen, deadline);
      } else if (target) {
        this.#mailboxes.deliver(target, frozen, deadline);
      } else {
        this.#mailboxes.drop(subject, "invalid", 1, "process-local payload without target");
      }
    };
    const fail = (error: unknown) => {
      this.#mailboxes.drop(target || subject, "invalid", 1, String(error));
    };
    if (!this.#serializer.async) {
      try {
        deliver(this.#serializer.decode(body) as LayerMessage);
      } catch (error) {
        fail(error);
      }
      return;
    }
    // Decrypting is asynchronous: chain it so messages keep their order.
    const decoded = Promise.resolve().then(() => this.#serializer.decode(body));
    this.#decodeChain = this.#decodeChain.then(() => decoded.then(deliver, fail));
  }

  /** Encodes and publishes, confirmed; `connect()` already awaited by the caller. */
  async #publish(subject: string, target: string, message: LayerMessage, what: string) {
    // Encoding resolves in call order, and nothing is awaited between it and the publish:
    // concurrent sends keep their order.
    const body = await this.#serializer.encode(message);
    await this.#publishBody(subject, target, body, what);
  }

  async #publishBody(subject: string, target: string, body: string, what: string) {
    this.#assertOpen();
    const data = encoder.encode(framePayload(target, body));
    const max = this.#pub.maxPayload;
    if (data.length > max) throw new MessageTooLargeError(what, data.length, max);
    this.#pub.assertUp(what).publish(subject, data);
    await this.#pub.confirm(what);
  }

  /**
   * Makes sure this process hears `channel` (subscribes to its subject). `receive` does it too;
   * call it first when a message may be published before the first `receive`.
   */
  async listen(channel: string): Promise<void> {
    this.#assertOpen();
    assertChannelName(channel);
    this.#assertOwn(channel, "receive()");
    const subject = channelSubject(this.prefix, channel);
    if (!this.#routes.has(subject)) {
      this.#routes.set(
        subject,
        isProcessLocal(channel) ? { kind: "local" } : { kind: "channel", channel },
      );
    }
    await this.#subscribe(subject, `listen on ${channel}`);
  }

  /** Creates a process-local channel name and subscribes to its process prefix. */
  async newChannel(prefix = "specific"): Promise<string> {
    this.#assertOpen();
    const name = `${prefix}.${this.#token}!${randomToken(12)}`;
    assertChannelName(name);
    this.#ownPrefixes.add(nonLocalName(name));
    const subject = channelSubject(this.prefix, name);
    if (!this.#subs.has(subject) || !this.#sub.up) await this.listen(name);
    this.#mailboxes.markLive(name);
    return name;
  }

  /** Publishes `message` to `channel`; throws LayerUnavailableError when NATS is away. */
  async send(channel: string, message: LayerMessage): Promise<void> {
    this.#assertOpen();
    assertChannelName(channel);
    await this.connect();
    const target = isProcessLocal(channel) ? channel : "";
    await this.#publish(
      channelSubject(this.prefix, channel),
      target,
      message,
      `send to ${channel}`,
    );
  }

  /**
   * Waits for the next message on `channel` (a normal one, or one this instance created). Not an
   * async function: a channel already subscribed to waits on its mailbox with no extra hop.
   */
  receive(channel: string, options: ReceiveOptions = {}): Promise<LayerMessage> {
    try {
      this.#assertOpen();
      assertChannelName(channel);
      const stop = stopOf(options); // the loop's Stop: its signal is not made
      if (stop?.aborted) throw stop.reason;
      if (!this.#subs.has(channelSubject(this.prefix, channel))) {
        return this.listen(channel).then(() => this.#mailboxes.receive(channel, options));
      }
      this.#assertOwn(channel, "receive()");
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#mailboxes.receive(channel, options);
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
    if (this.#closed || !this.#subs.has(channelSubject(this.prefix, channel))) return null;
    return this.#mailboxes.receiveNow(channel, sink, options, this.#checkReceive);
  }

  readonly #checkReceive = (channel: string): void => {
    assertChannelName(channel);
    this.#assertOwn(channel, "receive()");
  };

  /** Adds `channel` to `group` in this process and subscribes to the group's subject. */
  async groupAdd(group: string, channel: string): Promise<void> {
    this.#assertOpen();
    assertGroupName(group);
    assertChannelName(channel);
    this.#assertOwn(channel, "groupAdd()");
    let members = this.#groups.get(group);
    if (!members) this.#groups.set(group, members = new MemberSet());
    const added = !members.has(channel);
    members.add(channel);
    const subject = groupSubject(this.prefix, group);
    this.#routes.set(subject, { kind: "group", group });
    try {
      await this.#subscribe(subject, `groupAdd to ${group}`);
    } catch (error) {
      // The caller is told the join failed: do not keep a membership nobody will discard.
      if (added && members.delete(channel) && members.size === 0) {
        if (this.#groups.get(group) === members) this.#groups.delete(group);
        if (!this.#closed && this.#sub.up) this.#release(subject);
        else if (!this.#closed) this.#releaseLater(subject);
      }
      throw error;
    }
  }

  /** Releases a subscription made while the connection was down (`connection` may be unset). */
  #releaseLater(subject: string): void {
    try {
      this.#release(subject);
    } catch {
      this.#routes.delete(subject);
      this.#subs.delete(subject);
    }
  }

  /** Removes `channel` from `group`; unsubscribes when no local member is left. */
  groupDiscard(group: string, channel: string): Promise<void> {
    try {
      this.#assertOpen();
      assertGroupName(group);
      assertChannelName(channel);
      const members = this.#groups.get(group);
      if (members?.delete(channel) && members.size === 0) {
        this.#groups.delete(group);
        this.#releaseLater(groupSubject(this.prefix, group));
      }
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** One publish to the group's subject; every subscribed process fans out locally. */
  async groupSend(group: string, message: LayerMessage): Promise<void> {
    this.#assertOpen();
    assertGroupName(group);
    await this.connect();
    await this.#publish(groupSubject(this.prefix, group), "", message, `groupSend to ${group}`);
  }

  /**
   * Appends `message` to `group`'s history (a JetStream subject), then publishes it on the
   * group's subject stamped with its position (`#<offset> <epoch>` on the target line).
   */
  async appendAndSend(
    group: string,
    message: LayerMessage,
    options: HistoryOptions,
  ): Promise<StreamPosition> {
    this.#assertOpen();
    assertGroupName(group);
    const what = `appendAndSend to ${group}`;
    await this.connect();
    const body = await this.#serializer.encode(message);
    // Too large for the live copy (its target line is at most 35 bytes): refused before
    // anything is appended.
    const size = encoder.encode(body).length + 36;
    const max = this.#pub.maxPayload;
    if (size > max) throw new MessageTooLargeError(what, size, max);
    const position = await this.#histories.append(group, body, options);
    const target = `#${position.offset} ${position.epoch}`;
    await this.#publishBody(groupSubject(this.prefix, group), target, body, what);
    return position;
  }

  /** The messages of `group`'s history after `since` (see `HistoryCapability.readSince`). */
  async readSince(
    group: string,
    since: StreamPosition | undefined,
    options: HistoryReadOptions,
  ): Promise<HistoryRead> {
    this.#assertOpen();
    return await this.#histories.read(group, since, options);
  }

  /** The local members of `group` (for tests and introspection). */
  groupMembers(group: string): string[] {
    return [...(this.#groups.get(group) ?? [])];
  }

  /**
   * Forgets local messages and group memberships (unsubscribing groups). Receivers keep waiting.
   * Messages published before the call that are still on their way to this process are
   * forgotten too: the subscriber connection is drained first (one bounded round trip).
   */
  async flush(): Promise<void> {
    if (this.#closed) throw new ClosedError(`The ${LABEL} is closed`);
    if (this.#connecting && this.#sub.up) {
      // The server writes a PONG after the messages it already routed to this connection.
      await Promise.resolve().then(() => this.#sub.confirm("flush")).catch(() => {});
      await this.#decodeChain.catch(() => {});
    }
    if (this.#closed) throw new ClosedError(`The ${LABEL} is closed`);
    this.#mailboxes.clear();
    const groups = [...this.#groups.keys()];
    this.#groups.clear();
    for (const group of groups) this.#releaseLater(groupSubject(this.prefix, group));
  }

  /** Unsubscribes, closes the connection the layer opened, rejects waiting receivers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#mailboxes.close();
    this.#events.clear();
    await this.#connecting?.catch(() => {});
    await this.#decodeChain.catch(() => {});
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    this.#groups.clear();
    this.#routes.clear();
    // A given connection stays open: leave it without our subscriptions.
    if (!this.#sub.owned) {
      for (const sub of subs) if (!sub.isClosed()) sub.unsubscribe();
    }
    await this.#pub.close();
    if (this.#sub !== this.#pub) await this.#sub.close();
  }
}
