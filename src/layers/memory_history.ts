/**
 * The histories of the in-memory layer: one ring buffer per group, bounded by size and age, with
 * a random epoch per history (a new one after `flush()`, or in a new process).
 *
 * @module
 */
import type {
  HistoryEntry,
  HistoryOptions,
  HistoryRead,
  HistoryReadOptions,
  StreamPosition,
} from "./history.ts";
import type { LayerMessage } from "./layer.ts";
import { randomToken } from "./names.ts";

interface Stored {
  offset: number;
  at: number;
  message: LayerMessage;
}

/** How long the epoch and newest offset of an idle history are kept (as on Redis: a day). */
const KEEP_IDLE_MS = 86_400_000;
/** Appends between two sweeps of idle histories. */
const SWEEP_EVERY = 1024;

/** One group's history: a ring of the newest `size` messages. */
class Ring {
  readonly epoch = randomToken(16);
  /** The newest offset (0 before the first message). */
  top = 0;
  /** When the last message was appended, and the bounds it was appended with. */
  lastAt = Date.now();
  ttlMs = 0;
  #slots: (Stored | undefined)[] = [];
  #size = 0;

  append(message: LayerMessage, options: HistoryOptions, now: number): number {
    if (this.#size !== options.size) this.#resize(options.size);
    const offset = ++this.top;
    this.#slots[offset % this.#size] = { offset, at: now, message };
    this.lastAt = now;
    this.ttlMs = options.ttlMs;
    return offset;
  }

  /** Forgets the messages (all older than `ttlMs`); the epoch and offset stay. */
  clearMessages(): void {
    this.#slots = [];
    this.#size = 0;
  }

  /** The stored message at `offset`, if still held and not older than `ttlMs`. */
  at(offset: number, ttlMs: number, now: number): Stored | undefined {
    if (this.#size === 0) return undefined;
    const slot = this.#slots[offset % this.#size];
    return slot && slot.offset === offset && now - slot.at <= ttlMs ? slot : undefined;
  }

  #resize(size: number): void {
    const kept = this.#slots.filter((s): s is Stored => s !== undefined)
      .sort((a, b) => a.offset - b.offset).slice(-size);
    this.#size = size;
    this.#slots = new Array(size);
    for (const s of kept) this.#slots[s.offset % size] = s;
  }
}

/** The histories of one in-memory layer, by group. */
export class MemoryHistories {
  #rings = new Map<string, Ring>();
  #appends = 0;

  /** Appends `message` to `group`'s history; returns its position. */
  append(group: string, message: LayerMessage, options: HistoryOptions): StreamPosition {
    let ring = this.#rings.get(group);
    if (!ring) this.#rings.set(group, ring = new Ring());
    const now = Date.now();
    if (++this.#appends % SWEEP_EVERY === 0) this.#sweep(now);
    return { offset: ring.append(message, options, now), epoch: ring.epoch };
  }

  /**
   * Idle histories release their messages once older than their `ttlMs`, and are forgotten
   * (a new epoch next time) after a day, so groups that come and go do not pile up.
   */
  #sweep(now: number): void {
    for (const [group, ring] of this.#rings) {
      const idle = now - ring.lastAt;
      if (idle > Math.max(KEEP_IDLE_MS, ring.ttlMs)) this.#rings.delete(group);
      else if (idle > ring.ttlMs) ring.clearMessages();
    }
  }

  /** What followed `since` in `group`'s history (see `HistoryCapability.readSince`). */
  read(group: string, since: StreamPosition | undefined, options: HistoryReadOptions): HistoryRead {
    let ring = this.#rings.get(group);
    if (!ring) this.#rings.set(group, ring = new Ring());
    const position = { offset: ring.top, epoch: ring.epoch };
    if (!since) return { recovered: true, messages: [], position };
    if (since.epoch !== ring.epoch) return { recovered: false, reason: "epoch_changed", position };
    if (since.offset > ring.top) return { recovered: false, reason: "position_ahead", position };
    const missed = ring.top - since.offset;
    if (missed > options.size) return { recovered: false, reason: "trimmed", position };
    if (missed > (options.limit ?? options.size)) {
      return { recovered: false, reason: "too_many", position };
    }
    const now = Date.now();
    const messages: HistoryEntry[] = [];
    for (let offset = since.offset + 1; offset <= ring.top; offset++) {
      const stored = ring.at(offset, options.ttlMs, now);
      if (!stored) return { recovered: false, reason: "too_old", position };
      messages.push({ offset, message: stored.message });
    }
    return { recovered: true, messages, position };
  }

  /** Forgets every history (their epochs change). */
  clear(): void {
    this.#rings.clear();
  }
}
