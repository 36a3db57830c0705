/**
 * Bounded per-channel mailboxes in the process, shared by every layer (memory, Redis pub/sub,
 * Redis queue).
 *
 * Messages land here (sent in-process, or read from Redis by a layer's long-lived reader);
 * `receive()` and `receiveNow()` only wait on a mailbox, so aborting them never loses a message.
 * A full mailbox drops the incoming message, counts it and logs it; expired messages are dropped
 * when they would be delivered.
 *
 * @module
 */
import { clock } from "../clock.ts";
import { onAbort, Stop, stopOf } from "../abort.ts";
import { ClosedError } from "../errors.ts";
import type { LayerMessage, ReceiveOptions, ReceiveSink } from "./layer.ts";
import { getLogger } from "../logger.ts";
import { localFanout } from "./local_fanout.ts";
import {
  type Entry,
  Mailbox,
  NO_ENTRIES,
  NO_WAITERS,
  tell,
  type Waiter,
  Watch,
} from "./mailbox_box.ts";

/** Why a message was dropped. */
export type DropReason = "full" | "expired" | "invalid";

/** Called for every dropped message (for metrics and tests). */
export type DropListener = (info: { channel: string; reason: DropReason; count: number }) => void;

/**
 * Deep-freezes a value (messages are shared between members of a group). Iterative (an explicit
 * stack), so any nesting depth is frozen without overflowing the call stack.
 */
export function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v && typeof v === "object" && !Object.isFrozen(v)) {
      Object.freeze(v);
      for (const child of Object.values(v)) stack.push(child);
    }
  }
  return value;
}

const SWEEP_INTERVAL_MS = 5_000;
/** At most this many released channel names are remembered (oldest forgotten first). */
const RELEASED_LIMIT = 100_000;

/** The mailboxes of one layer instance. */
export class Mailboxes {
  /** Messages dropped so far, by reason. */
  readonly dropped: { expired: number; full: number; invalid: number } = {
    expired: 0,
    full: 0,
    invalid: 0,
  };
  readonly #capacity: (channel: string) => number;
  readonly #expiryMs: number;
  readonly #label: string;
  readonly #onDrop: DropListener | undefined;
  readonly #onDemand: ((channel: string) => void) | undefined;
  #boxes = new Map<string, Mailbox>();
  #live = new Set<string>();
  /** The signal each channel's receiver passes, watched for a release (see `receive`). */
  #receivers = new Map<string, AbortSignal | Stop>();
  /**
   * Channels released for good, with when to forget them (epoch ms): a message that reaches one
   * later (a group send racing the member's last discard) is dropped instead of parking a new
   * mailbox nobody will read. Kept for one expiry period (a message older than that is dropped
   * anyway) and at most {@linkcode RELEASED_LIMIT} names.
   */
  #released = new Map<string, number>();
  #nextSweep = clock.now() + SWEEP_INTERVAL_MS;
  #closed = false;
  #generation = 0;

  /**
   * Changes whenever a receiver may have stopped waiting on an empty mailbox (an offer, an ended
   * wait, a close): till then a parked channel stays parked (local_fanout.ts, `stamp`).
   */
  get generation(): number {
    return this.#generation;
  }

  /**
   * `capacity` bounds each mailbox; `expiryMs` is how long a message may wait; `onDemand` is
   * told when a receiver starts waiting on an empty mailbox.
   */
  constructor(options: {
    capacity: (channel: string) => number;
    expiryMs: number;
    label: string;
    onDrop?: DropListener;
    onDemand?: (channel: string) => void;
  }) {
    this.#capacity = options.capacity;
    this.#expiryMs = options.expiryMs;
    this.#label = options.label;
    this.#onDrop = options.onDrop;
    this.#onDemand = options.onDemand;
  }

  /** Records a drop: counter, log line, listener. */
  drop(channel: string, reason: DropReason, count = 1, detail = ""): void {
    this.dropped[reason] += count;
    getLogger().warn(
      `${this.#label}: dropped ${count} ${reason === "full" ? "message(s) for a full" : reason} ${
        reason === "full" ? "channel" : "message(s) on channel"
      } ${channel}${detail ? ` (${detail})` : ""}`,
    );
    try {
      this.#onDrop?.({ channel, reason, count });
    } catch (error) {
      getLogger().error(`${this.#label}: onDrop listener threw`, { error });
    }
  }

  #box(channel: string): Mailbox {
    let box = this.#boxes.get(channel);
    if (!box) this.#boxes.set(channel, box = new Mailbox());
    return box;
  }

  #dropExpired(channel: string, box: Mailbox, now: number): void {
    let expired = 0;
    for (let e = box.peek(); e && e.deadline <= now; e = box.peek()) {
      box.shift();
      expired++;
    }
    if (expired) this.drop(channel, "expired", expired);
  }

  #forget(channel: string, box: Mailbox): void {
    if (box.size === 0 && box.waiters.length === 0 && this.#boxes.get(channel) === box) {
      this.#boxes.delete(channel);
    }
  }

  #sweep(now: number): void {
    this.#nextSweep = now + SWEEP_INTERVAL_MS;
    for (const [channel, until] of this.#released) {
      if (until > now) break; // insertion order is expiry order
      this.#released.delete(channel);
    }
    for (const [channel, box] of this.#boxes) {
      this.#dropExpired(channel, box, now);
      this.#forget(channel, box);
    }
  }

  /** Marks a channel as in use (made by `newChannel` or being received on): it gets resyncs. */
  markLive(channel: string): void {
    this.#released.delete(channel);
    this.#live.add(channel);
  }

  /** True when a receiver is waiting on `channel`. */
  waiting(channel: string): number {
    return this.#boxes.get(channel)?.waiters.length ?? 0;
  }

  /** Messages held for `channel`. */
  size(channel: string): number {
    return this.#boxes.get(channel)?.size ?? 0;
  }

  /**
   * Hands `message` (already frozen) to a waiting receiver or queues it until `deadline` (epoch
   * ms). `force` ignores capacity (resync notices). Returns false when the mailbox was full or
   * the message had expired; the drop is already counted and logged.
   */
  deliver(channel: string, message: LayerMessage, deadline: number, force = false): boolean {
    const outcome = this.offer(channel, message, deadline, force);
    if (outcome === "delivered") return true;
    if (outcome !== "closed") this.drop(channel, outcome);
    return false;
  }

  /**
   * Hands a frozen group message to the local `members` of `group` on `layer`: a runtime's native
   * fan-out (local_fanout.ts: Bun's publish) first, then {@linkcode deliver} to each member it did
   * not reach. What the layers that relay group messages from a server share.
   */
  deliverToGroup(
    layer: object,
    group: string,
    members: ReadonlySet<string>,
    message: LayerMessage,
    deadline: number,
  ): void {
    if (members.size === 0) return;
    const reached = localFanout()?.deliver(
      layer,
      group,
      members,
      message,
      this.#parked,
      this.#generation,
    );
    if (reached && reached.size === members.size) return;
    for (const member of members) {
      if (!reached?.has(member)) this.deliver(member, message, deadline);
    }
  }

  /** True when the receiver of `channel` waits on an empty mailbox (native fan-out's check). */
  readonly #parked = (channel: string): boolean => this.waiting(channel) > 0;

  /**
   * Like {@linkcode deliver}, but reports instead of dropping: a full mailbox is left to the caller
   * (the memory layer's `send` throws `ChannelFull`). Nothing is counted or logged.
   */
  offer(
    channel: string,
    message: LayerMessage,
    deadline: number,
    force = false,
  ): "delivered" | "full" | "expired" | "closed" {
    if (this.#closed) return "closed";
    this.#generation++;
    const now = clock.now();
    if (now >= this.#nextSweep) this.#sweep(now);
    let box = this.#boxes.get(channel);
    // A released channel has no box (release deletes it; no box is made for it again).
    if (!box && this.#released.has(channel)) return "closed";
    if (deadline <= now) return "expired";
    if (!box) this.#boxes.set(channel, box = new Mailbox());
    const waiters = box.waiters;
    let waiter: Waiter | undefined;
    if (waiters === box.one) { // the usual: one receiver, in the box's own one-waiter array
      waiter = waiters[0];
      box.waiters = NO_WAITERS; // `one` is kept as it is, for the receiver's next wait
    } else if (waiters.length) waiter = waiters.shift();
    if (waiter) {
      // The box stays (its receiver is about to wait again); the sweep forgets it if not.
      // Last: a sink may handle the message at once, and wait (or send) again from here.
      tell(this.#label, waiter, true, message);
      return "delivered";
    }
    this.#dropExpired(channel, box, now);
    if (!force && box.size >= this.#capacity(channel)) return "full";
    if (box.queue === NO_ENTRIES) box.queue = [{ deadline, message }];
    else box.queue.push({ deadline, message });
    return "delivered";
  }

  /** A deadline `expiryMs` from `from` (epoch ms, default now). */
  deadline(from: number = clock.now()): number {
    return from + this.#expiryMs;
  }

  /**
   * Waits for the next message on `channel`; aborting the wait loses nothing, unless the signal
   * is aborted with a {@linkcode ClosedError}: that receiver is gone for good (a closed
   * connection), so the channel is then {@linkcode release}d, whether a wait was pending or not.
   */
  receive(channel: string, options: ReceiveOptions = {}): Promise<LayerMessage> {
    if (this.#closed) return Promise.reject(new ClosedError(`${this.#label} is closed`));
    const signal = stopOf(options);
    if (signal?.aborted) {
      if (signal.reason instanceof ClosedError) this.release(channel);
      return Promise.reject(signal.reason);
    }
    const box = this.#open(channel, signal);
    const entry = this.#take(channel, box);
    if (entry) return Promise.resolve(entry.message);
    let sink: ReceiveSink;
    const promise = new Promise<LayerMessage>((resolve, reject) => sink = { resolve, reject });
    this.#park(channel, box, sink!, signal, false);
    return promise;
  }

  /**
   * `ChannelLayer.receiveNow` on the mailbox: the message waiting on `channel`, else `undefined`
   * with `sink` parked until one arrives, the signal aborts or the mailboxes close. `null` when
   * closed, when the signal is already aborted or when `check` (the layer's name and ownership
   * checks, run only while no receiver has the channel open) throws: the caller's `receive` then
   * rejects (and releases the channel on a `ClosedError`).
   */
  receiveNow(
    channel: string,
    sink: ReceiveSink,
    options: ReceiveOptions = {},
    check?: (channel: string) => void,
  ): LayerMessage | undefined | null {
    const signal = stopOf(options);
    if (this.#closed || signal?.aborted) return null;
    const found = this.#boxes.get(channel);
    if (check && !found?.live) {
      try {
        check(channel);
      } catch {
        return null;
      }
    }
    const box = this.#open(channel, signal, found);
    const entry = this.#take(channel, box);
    if (entry) return entry.message;
    this.#park(channel, box, sink, signal);
    return undefined;
  }

  /** The box of a receiver of `channel` (`found`, if known), live, its signal watched. */
  #open(channel: string, signal: AbortSignal | Stop | undefined, found?: Mailbox): Mailbox {
    const box = found ?? this.#box(channel);
    if (signal && box.watched !== signal) {
      if (this.#receivers.get(channel) !== signal) this.#watch(channel, signal);
      box.watched = signal;
    }
    if (!box.live) {
      this.#released.delete(channel);
      this.#live.add(channel);
      box.live = true;
    }
    return box;
  }

  /** The next message of a box that has not expired. */
  #take(channel: string, box: Mailbox): Entry | undefined {
    this.#dropExpired(channel, box, clock.now());
    return box.shift();
  }

  /**
   * Parks a waiter on an empty box. No abort listener per wait: the channel's watcher (`#watch`)
   * ends the waits of its signal.
   */
  #park(
    channel: string,
    box: Mailbox,
    sink: ReceiveSink,
    signal: AbortSignal | Stop | undefined,
    keep = true,
  ): void {
    const one = box.one;
    if (box.waiters.length === 0) {
      // A receive loop parks one sink and signal at every wait: its waiter is made once (not a
      // `receive`'s one-off promise: kept, it would keep its message).
      if (one && one[0].sink === sink && one[0].signal === signal) box.waiters = one;
      else if (keep) box.waiters = box.one = [{ sink, signal }];
      else box.waiters = [{ sink, signal }];
    } else {
      // Never grown in place: `one` holds one waiter only.
      box.waiters = [...box.waiters, { sink, signal }];
    }
    this.#onDemand?.(channel);
  }

  /**
   * A receiver's signal, watched once per channel (a receive loop passes the same signal to every
   * wait): aborted, it ends the channel's waits on that signal (they reject with its reason) and,
   * aborted with a {@linkcode ClosedError}, releases the channel even when no wait was pending
   * (the loop was handling a message when its connection closed).
   */
  #watch(channel: string, signal: AbortSignal | Stop): void {
    this.#receivers.set(channel, signal);
    const watch = new Watch(this, channel, signal);
    // A Stop (a connection's receive loop) takes the object itself: no closure per channel.
    if (signal instanceof Stop) signal.listen(watch);
    else onAbort(signal, () => watch.stopped());
  }

  /** `channel`'s receiver's signal aborted (its watch calls this): its waits end; a ClosedError
   * releases it. */
  receiverStopped(channel: string, signal: AbortSignal | Stop): void {
    this.#generation++;
    const box = this.#boxes.get(channel);
    if (box?.one?.[0].signal === signal) box.one = undefined; // that receiver is done
    const ended = box?.waiters.filter((w) => w.signal === signal) ?? [];
    if (box && ended.length) {
      box.waiters = box.waiters.filter((w) => w.signal !== signal);
      if (box.waiters.length === 0) {
        this.#live.delete(channel);
        box.live = false;
      }
      this.#forget(channel, box);
    }
    const current = this.#receivers.get(channel) === signal;
    if (current) this.#receivers.delete(channel);
    if ((current || ended.length) && signal.reason instanceof ClosedError) this.release(channel);
    for (const w of ended) tell(this.#label, w, false, signal.reason);
  }

  /**
   * Releases a channel whose receiver is gone for good: it stops being live (no more resyncs)
   * and its queued messages are forgotten. A channel another receiver still waits on is kept.
   */
  release(channel: string): void {
    const box = this.#boxes.get(channel);
    if (box && box.waiters.length > 0) return;
    this.#live.delete(channel);
    this.#receivers.delete(channel);
    if (box) this.#boxes.delete(channel);
    this.#released.delete(channel);
    this.#released.set(channel, clock.now() + this.#expiryMs);
    if (this.#released.size > RELEASED_LIMIT) {
      this.#released.delete(this.#released.keys().next().value!);
    }
  }

  /** Live channels (made by `newChannel` or received on, and not released): for tests and metrics. */
  get liveChannels(): number {
    return this.#live.size;
  }

  /** Channels that get a resync notice: live ones and those holding messages or receivers. */
  channels(): Set<string> {
    return new Set([...this.#live, ...this.#boxes.keys()]);
  }

  /** Delivers `message` to every live channel, ignoring capacity. */
  broadcast(message: LayerMessage): number {
    const targets = this.channels();
    const deadline = this.deadline();
    for (const channel of targets) this.deliver(channel, message, deadline, true);
    return targets.size;
  }

  /** Forgets every queued message; waiting receivers keep waiting. */
  clear(): void {
    for (const [channel, box] of this.#boxes) {
      box.queue = NO_ENTRIES;
      box.head = 0;
      this.#forget(channel, box);
    }
  }

  /** Rejects every waiting receiver with {@linkcode ClosedError} and forgets everything. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#generation++;
    for (const box of this.#boxes.values()) {
      const waiting = box.waiters;
      box.waiters = NO_WAITERS;
      for (const w of waiting) {
        tell(this.#label, w, false, new ClosedError(`${this.#label} closed`));
      }
    }
    this.#boxes.clear();
    this.#live.clear();
    this.#receivers.clear();
    this.#released.clear();
  }
}
