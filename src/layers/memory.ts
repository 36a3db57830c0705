/**
 * The in-memory channel layer: the embedded default, for one process. Built from the kit for
 * layer authors (`kit.ts`) only, as any layer outside the core would be.
 *
 * @module
 */
import { MemberSet } from "./member_set.ts";
import {
  assertChannelName,
  assertGroupName,
  capacityLookup,
  type CapacityOptions,
  ChannelFull,
  type ChannelLayer,
  ClosedError,
  deepFreeze,
  type DropListener,
  getLogger,
  type LayerMessage,
  localFanout,
  Mailboxes,
  randomToken,
  type ReceiveOptions,
  type ReceiveSink,
} from "./kit.ts";
import {
  checkHistoryOptions,
  HISTORY_KEY,
  type HistoryCapability,
  type HistoryOptions,
  type HistoryRead,
  type HistoryReadOptions,
  type StreamPosition,
} from "./history.ts";
import { MemoryHistories } from "./memory_history.ts";

/** Options of {@linkcode InMemoryChannelLayer}. */
export interface InMemoryChannelLayerOptions extends CapacityOptions {
  /** Seconds a message may wait in a channel before it is dropped at delivery. Default 60. */
  expiry?: number;
  /**
   * Seconds a membership outlives the process that added it. Default 86400. A live layer renews
   * its memberships, so in memory (where the layer is the process) they last until
   * `groupDiscard`, `flush` or `close`, as on every layer.
   */
  groupExpiry?: number;
  /** Told about every dropped message (expired, or skipped by a group send to a full channel). */
  onDrop?: DropListener;
}

/** Runs `fn` and turns its result or exception into a promise (never throws synchronously). */
function attempt<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Copies a message through JSON (so it behaves as on any other layer) and freezes the copy. */
function snapshot(message: LayerMessage): LayerMessage {
  if (message === null || typeof message !== "object" || typeof message.type !== "string") {
    throw new TypeError("A layer message must be an object with a string 'type'");
  }
  return deepFreeze(JSON.parse(JSON.stringify(message)));
}

/**
 * A channel layer that lives in this process's memory.
 *
 * Unlike the Python in-memory layer it enforces expiry when a message is delivered, sweeps
 * channels nobody reads, keeps waiting receivers across `flush()`, lets one of two receivers be
 * cancelled without harming the other, logs what it drops, and shares one frozen copy of a group
 * message between all members. Its mailboxes are the same as the Redis layers'.
 */
export class InMemoryChannelLayer implements ChannelLayer, HistoryCapability {
  /** Optional features. */
  readonly extensions: readonly string[] = ["groups", "flush", "history"];
  /** Message expiry in seconds. */
  readonly expiry: number;
  /** Seconds a membership outlives its process (never reached in memory: see the option). */
  readonly groupExpiry: number;
  readonly #prefix = randomToken(12);
  readonly #mailboxes: Mailboxes;
  #groups = new Map<string, MemberSet>();
  readonly #histories = new MemoryHistories();
  #closed = false;

  /** Creates a layer. */
  constructor(options: InMemoryChannelLayerOptions = {}) {
    this.expiry = options.expiry ?? 60;
    this.groupExpiry = options.groupExpiry ?? 86400;
    this.#mailboxes = new Mailboxes({
      capacity: capacityLookup(options),
      expiryMs: this.expiry * 1000,
      label: "In-memory layer",
      onDrop: options.onDrop,
    });
  }

  /** Messages dropped so far, by reason. */
  get dropped(): { expired: number; full: number; invalid: number } {
    return this.#mailboxes.dropped;
  }

  #open(): void {
    if (this.#closed) throw new ClosedError("The in-memory layer is closed");
  }

  /** Creates a new process-local channel name. */
  newChannel(prefix = "specific"): Promise<string> {
    return attempt(() => {
      this.#open();
      const name = `${prefix}.${this.#prefix}!${randomToken(12)}`;
      assertChannelName(name);
      this.#mailboxes.markLive(name);
      return name;
    });
  }

  /** Sends a message to one channel; throws {@linkcode ChannelFull} when it is at capacity. */
  send(channel: string, message: LayerMessage): Promise<void> {
    return attempt(() => {
      this.#open();
      assertChannelName(channel);
      const outcome = this.#mailboxes.offer(channel, snapshot(message), this.#mailboxes.deadline());
      if (outcome === "full") throw new ChannelFull(channel);
    });
  }

  /** Waits for the next message on `channel`. Messages older than `expiry` are dropped, not delivered. */
  receive(channel: string, options: ReceiveOptions = {}): Promise<LayerMessage> {
    try {
      this.#open();
      assertChannelName(channel);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#mailboxes.receive(channel, options);
  }

  /**
   * The message waiting on `channel`, else `undefined` with `sink` parked for the next one; `null`
   * (call `receive`) when closed, for a bad name or an aborted signal. A channel's name is
   * checked when its receiver opens it, not on every wait.
   */
  receiveNow(
    channel: string,
    sink: ReceiveSink,
    options?: ReceiveOptions,
  ): LayerMessage | undefined | null {
    if (this.#closed) return null;
    return this.#mailboxes.receiveNow(channel, sink, options, assertChannelName);
  }

  /** Adds `channel` to `group`; it stays there until `groupDiscard` (no expiry while live). */
  groupAdd(group: string, channel: string): Promise<void> {
    return attempt(() => {
      this.#open();
      assertGroupName(group);
      assertChannelName(channel);
      let members = this.#groups.get(group);
      if (!members) this.#groups.set(group, members = new MemberSet());
      members.add(channel);
    });
  }

  /** Removes `channel` from `group`. */
  groupDiscard(group: string, channel: string): Promise<void> {
    return attempt(() => {
      this.#open();
      assertGroupName(group);
      assertChannelName(channel);
      const members = this.#groups.get(group);
      if (members) {
        members.delete(channel);
        if (members.size === 0) this.#groups.delete(group);
      }
    });
  }

  /** Sends one shared, frozen copy of `message` to every live member of `group`. */
  groupSend(group: string, message: LayerMessage): Promise<void> {
    return attempt(() => {
      this.#open();
      assertGroupName(group);
      this.#fanOut(group, snapshot(message));
    });
  }

  /** Offers one frozen message to every live member of `group` (full members skipped, logged). */
  #fanOut(group: string, frozen: LayerMessage): void {
    const members = this.#groups.get(group);
    if (!members) return;
    const deadline = this.#mailboxes.deadline();
    // Native fan-out (Bun's publish) reaches the members it can; the others get it as always.
    const reached = localFanout()?.deliver(
      this,
      group,
      members,
      frozen,
      this.#parked,
      this.#mailboxes.generation,
    );
    if (reached && reached.size === members.size) return;
    let full = 0;
    for (const channel of members) {
      if (reached?.has(channel)) continue;
      if (this.#mailboxes.offer(channel, frozen, deadline) === "full") full++;
    }
    if (full) {
      this.#mailboxes.dropped.full += full;
      getLogger().warn(`${full} of ${members.size} channels over capacity in group ${group}`);
    }
  }

  /** Appends `message` to `group`'s history (a ring buffer) and sends it stamped with its position. */
  appendAndSend(
    group: string,
    message: LayerMessage,
    options: HistoryOptions,
  ): Promise<StreamPosition> {
    return attempt(() => {
      this.#open();
      assertGroupName(group);
      checkHistoryOptions(options);
      const copy = snapshot(message);
      const position = this.#histories.append(group, copy, options);
      // One more frozen object, sharing the copy's (frozen) values: no second JSON round trip.
      this.#fanOut(
        group,
        Object.freeze({ ...copy, [HISTORY_KEY]: Object.freeze({ group, ...position }) }),
      );
      return position;
    });
  }

  /** The messages of `group`'s history after `since` (see `HistoryCapability.readSince`). */
  readSince(
    group: string,
    since: StreamPosition | undefined,
    options: HistoryReadOptions,
  ): Promise<HistoryRead> {
    return attempt(() => {
      this.#open();
      assertGroupName(group);
      checkHistoryOptions(options);
      return this.#histories.read(group, since, options);
    });
  }

  readonly #parked = (channel: string) => this.#mailboxes.waiting(channel) > 0;

  /**
   * Channels this layer holds: live ones (made by `newChannel` or received on, until their
   * receiver is closed) and those holding messages (for tests and introspection).
   */
  get channelCount(): number {
    return this.#mailboxes.channels().size;
  }

  /** The members of a group (for tests and introspection). */
  groupMembers(group: string): string[] {
    return [...(this.#groups.get(group)?.keys() ?? [])];
  }

  /** Forgets all messages and groups; receivers that are waiting keep waiting for new messages. */
  flush(): Promise<void> {
    this.#mailboxes.clear();
    this.#groups.clear();
    this.#histories.clear();
    return Promise.resolve();
  }

  /** Closes the layer; waiting receivers are rejected with {@linkcode ClosedError}. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#mailboxes.close();
    this.#groups.clear();
    this.#histories.clear();
    return Promise.resolve();
  }
}
