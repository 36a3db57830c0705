/**
 * The in-memory channel layer: the embedded default, for one process.
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
  type LayerMessage,
  onAbort,
  randomToken,
  type ReceiveOptions,
} from "../../src/layer_api.ts";

/** Options of {@linkcode InMemoryChannelLayer}. */
export interface InMemoryChannelLayerOptions extends CapacityOptions {
  /** Seconds a message may wait in a channel before it is dropped at delivery. Default 60. */
  expiry?: number;
  /** Seconds a group membership lasts without being renewed by `groupAdd`. Default 86400. */
  groupExpiry?: number;
}

interface Entry {
  deadline: number;
  message: LayerMessage;
}

interface Waiter {
  resolve(message: LayerMessage): void;
  reject(reason: unknown): void;
}

class Mailbox {
  queue: Entry[] = [];
  head = 0;
  waiters: Waiter[] = [];
  get size(): number {
    return this.queue.length - this.head;
  }
  shift(): Entry | undefined {
    if (this.head >= this.queue.length) return undefined;
    const entry = this.queue[this.head++];
    if (this.head > 64 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return entry;
  }
  peek(): Entry | undefined {
    return this.queue[this.head];
  }
}

function freeze<T>(value: T): T {
  if (value && typeof value === "object") {
    Object.freeze(value);
    for (const v of Object.values(value)) freeze(v);
  }
  return value;
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
  return freeze(JSON.parse(JSON.stringify(message)));
}

/**
 * A channel layer that lives in this process's memory.
 *
 * Unlike the Python in-memory layer it enforces expiry when a message is delivered, keeps waiting
 * receivers across `flush()`, lets one of two receivers be cancelled without harming the other,
 * logs what it drops, and shares one frozen copy of a group message between all members.
 */
export class InMemoryChannelLayer implements ChannelLayer {
  /** Optional features. */
  readonly extensions: readonly string[] = ["groups", "flush"];
  /** Message expiry in seconds. */
  readonly expiry: number;
  /** Group membership expiry in seconds. */
  readonly groupExpiry: number;
  readonly #capacity: (name: string) => number;
  readonly #prefix = randomToken(12);
  #channels = new Map<string, Mailbox>();
  #groups = new Map<string, Map<string, number>>();
  #closed = false;
  /** Messages dropped so far, by reason. */
  readonly dropped: { expired: number; full: number } = { expired: 0, full: 0 };

  /** Creates a layer. */
  constructor(options: InMemoryChannelLayerOptions = {}) {
    this.expiry = options.expiry ?? 60;
    this.groupExpiry = options.groupExpiry ?? 86400;
    this.#capacity = capacityLookup(options);
  }

  #open(): void {
    if (this.#closed) throw new ClosedError("The in-memory layer is closed");
  }

  #mailbox(channel: string): Mailbox {
    let box = this.#channels.get(channel);
    if (!box) {
      box = new Mailbox();
      this.#channels.set(channel, box);
    }
    return box;
  }

  #dropExpired(channel: string, box: Mailbox, now: number): void {
    let expired = 0;
    for (let e = box.peek(); e && e.deadline <= now; e = box.peek()) {
      box.shift();
      expired++;
    }
    if (expired) {
      this.dropped.expired += expired;
      getLogger().warn(`Dropped ${expired} expired message(s) on channel ${channel}`);
    }
  }

  #forget(channel: string, box: Mailbox): void {
    if (box.size === 0 && box.waiters.length === 0) this.#channels.delete(channel);
  }

  /** Puts a frozen message into a channel; false when it is full. */
  #deliver(channel: string, message: LayerMessage, now: number): boolean {
    const box = this.#mailbox(channel);
    const waiter = box.waiters.shift();
    if (waiter) {
      waiter.resolve(message);
      return true;
    }
    this.#dropExpired(channel, box, now);
    if (box.size >= this.#capacity(channel)) return false;
    box.queue.push({ deadline: now + this.expiry * 1000, message });
    return true;
  }

  /** Creates a new process-local channel name. */
  newChannel(prefix = "specific"): Promise<string> {
    return attempt(() => {
      this.#open();
      const name = `${prefix}.${this.#prefix}!${randomToken(12)}`;
      assertChannelName(name);
      return name;
    });
  }

  /** Sends a message to one channel; throws {@linkcode ChannelFull} when it is at capacity. */
  send(channel: string, message: LayerMessage): Promise<void> {
    return attempt(() => {
      this.#open();
      assertChannelName(channel);
      if (!this.#deliver(channel, snapshot(message), Date.now())) {
        this.dropped.full++;
        throw new ChannelFull(channel);
      }
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
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const box = this.#mailbox(channel);
    this.#dropExpired(channel, box, Date.now());
    const entry = box.shift();
    if (entry) {
      this.#forget(channel, box);
      return Promise.resolve(entry.message);
    }
    return new Promise<LayerMessage>((resolve, reject) => {
      const aborted = () => {
        const i = box.waiters.indexOf(waiter);
        if (i !== -1) box.waiters.splice(i, 1);
        if (this.#channels.get(channel) === box) this.#forget(channel, box);
        reject(signal!.reason);
      };
      const unlisten = onAbort(signal, aborted);
      const waiter: Waiter = {
        resolve: (m) => {
          unlisten();
          resolve(m);
        },
        reject: (e) => {
          unlisten();
          reject(e);
        },
      };
      box.waiters.push(waiter);
    });
  }

  /** Adds (or renews) `channel` in `group`. */
  groupAdd(group: string, channel: string): Promise<void> {
    return attempt(() => {
      this.#open();
      assertGroupName(group);
      assertChannelName(channel);
      let members = this.#groups.get(group);
      if (!members) this.#groups.set(group, members = new Map());
      members.set(channel, Date.now());
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
    return attempt(() => this.#groupSend(group, message));
  }

  #groupSend(group: string, message: LayerMessage): void {
    this.#open();
    assertGroupName(group);
    const frozen = snapshot(message);
    const members = this.#groups.get(group);
    if (!members) return;
    const now = Date.now();
    const oldest = now - this.groupExpiry * 1000;
    let full = 0;
    for (const [channel, joined] of members) {
      if (joined < oldest) {
        members.delete(channel);
        continue;
      }
      if (!this.#deliver(channel, frozen, now)) full++;
    }
    if (members.size === 0) this.#groups.delete(group);
    if (full) {
      this.dropped.full += full;
      getLogger().warn(`${full} of ${members.size} channels over capacity in group ${group}`);
    }
  }

  /** The members of a group (for tests and introspection). */
  groupMembers(group: string): string[] {
    return [...(this.#groups.get(group)?.keys() ?? [])];
  }

  /** Number of channels that hold messages or receivers (for tests and introspection). */
  get channelCount(): number {
    return this.#channels.size;
  }

  /** Forgets all messages and groups; receivers that are waiting keep waiting for new messages. */
  flush(): Promise<void> {
    for (const [name, box] of this.#channels) {
      box.queue = [];
      box.head = 0;
      this.#forget(name, box);
    }
    this.#groups.clear();
    return Promise.resolve();
  }

  /** Closes the layer; waiting receivers are rejected with {@linkcode ClosedError}. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const box of this.#channels.values()) {
      for (const w of box.waiters.splice(0)) {
        w.reject(new ClosedError("The in-memory layer closed"));
      }
    }
    this.#channels.clear();
    this.#groups.clear();
    return Promise.resolve();
  }
}
