/**
 * The mailbox of one channel (its queue and waiting receivers), for `Mailboxes` (mailbox.ts).
 *
 * @module
 */
import type { Stop } from "../abort.ts";
import type { LayerMessage, ReceiveSink } from "./layer.ts";
import { getLogger } from "../logger.ts";

/** A queued message. */
export interface Entry {
  /** When it expires (epoch ms). */
  deadline: number;
  /** The message (frozen). */
  message: LayerMessage;
}

/** A receiver waiting on an empty mailbox. */
export interface Waiter {
  /** Told the outcome: a `receive`'s promise, or the sink of a `receiveNow`. */
  sink: ReceiveSink;
  /** The receiver's signal: its channel's watcher (`#watch`) ends the wait when it aborts. */
  signal: AbortSignal | Stop | undefined;
}

/** Tells a waiter its message (`ok`) or why it ends; a sink that throws is logged, no more. */
export function tell(label: string, waiter: Waiter, ok: boolean, value: unknown): void {
  try {
    if (ok) waiter.sink.resolve(value as LayerMessage);
    else waiter.sink.reject(value);
  } catch (error) {
    getLogger().error(`${label}: a receiver's sink threw`, { error });
  }
}

/**
 * The queue and waiters of a mailbox that has none: shared and frozen (an idle receiver's mailbox
 * keeps no empty array of its own), replaced by an array of its own at the first entry or waiter.
 */
export const NO_ENTRIES: Entry[] = Object.freeze([]) as unknown as Entry[];
/** See {@linkcode NO_ENTRIES}. */
export const NO_WAITERS: Waiter[] = Object.freeze([]) as unknown as Waiter[];

/** The queue and the waiting receivers of one channel. */
export class Mailbox {
  /** Queued messages, from `head` on. */
  queue: Entry[] = NO_ENTRIES;
  /** Index of the next message in `queue`. */
  head = 0;
  /** Receivers waiting, first come first served (never pushed to while empty: frozen). */
  waiters: Waiter[] = NO_WAITERS;
  /**
   * The array of the box's last single waiter, kept for its receiver's next wait (`waiters` is
   * this array while that receiver waits; never grown in place).
   */
  one: Waiter[] | undefined;
  /** True while the channel is in `#live` (so a receive need not look it up). */
  live = false;
  /** The signal last seen watched for this channel (so a receive need not look it up). */
  watched: AbortSignal | Stop | undefined;
  /** Messages queued. */
  get size(): number {
    return this.queue.length - this.head;
  }
  /** Takes the next message. */
  shift(): Entry | undefined {
    if (this.head >= this.queue.length) return undefined;
    const entry = this.queue[this.head];
    this.queue[this.head++] = undefined as unknown as Entry;
    if (this.head > 64 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return entry;
  }
  /** The next message, left queued. */
  peek(): Entry | undefined {
    return this.queue[this.head];
  }
}

/**
 * One channel's watch of its receiver's signal (Mailboxes' `#watch`): three fields, where a
 * closure kept a context.
 */
export class Watch {
  constructor(
    readonly mailboxes: {
      receiverStopped(channel: string, signal: AbortSignal | Stop): void;
    },
    readonly channel: string,
    readonly signal: AbortSignal | Stop,
  ) {}
  /** The signal aborted. */
  stopped(): void {
    this.mailboxes.receiverStopped(this.channel, this.signal);
  }
}
