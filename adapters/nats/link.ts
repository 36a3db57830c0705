/**
 * One NATS connection as the NATS layer uses it ({@linkcode NatsLink}): opened from server URLs
 * (the layer owns it: infinite reconnects with a bounded backoff, closed on `close()`) or given
 * by the caller (used, never closed); whether it is up, from the client's status events; and
 * {@linkcode NatsLink.confirm}, a bounded round trip that proves the server took every command
 * written before it.
 *
 * Core NATS writes are fire-and-forget: `publish()` and `subscribe()` return before the server
 * saw anything, and while the client reconnects it buffers them. The layer wants the opposite
 * (an answer within a bounded time, a typed error while NATS is away), so every call that must
 * have reached the server ends with `confirm()`: one PING/PONG shared by all the writes of one
 * synchronous run, bounded by `commandTimeoutMs`, and failed at once when the connection drops
 * before the PONG.
 *
 * @module
 */
import { connect } from "@nats-io/transport-node";
import { LayerUnavailableError } from "../../src/layers/kit.ts";

/**
 * What the layer uses of a NATS connection: a `NatsConnectionLike` of `@nats-io/transport-node`
 * (what its `connect()` returns) is one.
 */
export interface NatsConnectionLike {
  /** The server's greeting, once connected (`max_payload` is read from it). */
  readonly info?: { max_payload: number };
  /** Writes a message (fire-and-forget). */
  publish(subject: string, payload?: Uint8Array): void;
  /** Subscribes; `callback` gets every message. */
  subscribe(
    subject: string,
    options: { callback: (error: Error | null, msg: { data: Uint8Array }) => void },
  ): NatsSubscriptionLike;
  /** Resolves once the server answered a PING written after everything before it. */
  flush(): Promise<void>;
  /** The connection's status events (`disconnect`, `reconnect`, `close`...). */
  status(): AsyncIterable<{ type: string }>;
  /** True once closed for good. */
  isClosed(): boolean;
  /** Closes the connection. */
  close(): Promise<void>;
}

/** What the layer uses of a subscription. */
export interface NatsSubscriptionLike {
  /** Ends the subscription. */
  unsubscribe(): void;
  /** True once it ended. */
  isClosed(): boolean;
}

/**
 * How long the NATS layer waits for NATS, so that a server that is down, unreachable or paused
 * (SIGSTOP, a frozen VM) turns into a typed error within a bounded time.
 */
export interface NatsTimeouts {
  /**
   * Milliseconds the first connection (in `connect()`, or the first call) may take. After that
   * the call fails with {@linkcode LayerUnavailableError} and the next call tries again.
   * Default 5000.
   */
  connectTimeoutMs?: number;
  /**
   * Milliseconds a publish or (un)subscribe waits for the server's confirmation (a PING/PONG
   * after it) before it fails with a {@linkcode NatsTimeoutError}. Default 5000.
   */
  commandTimeoutMs?: number;
}

/** The default {@linkcode NatsTimeouts}. */
export const DEFAULT_NATS_TIMEOUTS: Readonly<Required<NatsTimeouts>> = Object.freeze({
  connectTimeoutMs: 5000,
  commandTimeoutMs: 5000,
});

/** Reconnect backoff of the connections the layer opens from URLs. */
export interface NatsBackoffOptions {
  /** First retry delay in ms. Default 50. */
  minDelayMs?: number;
  /** Longest retry delay in ms. Default 2000. */
  maxDelayMs?: number;
}

/**
 * NATS did not confirm a write within `commandTimeoutMs` (the server is paused, overloaded or
 * unreachable without the connection having dropped). A {@linkcode LayerUnavailableError}: code
 * that handles "NATS is away" handles this too.
 */
export class NatsTimeoutError extends LayerUnavailableError {
  /** What was not confirmed (`send to room.1`, `groupAdd`...). */
  readonly what: string;
  /** The timeout that expired, in milliseconds. */
  readonly timeoutMs: number;
  /** Creates the error for `what` on the connection `label`. */
  constructor(what: string, label: string, timeoutMs: number) {
    super(`${what}: NATS (${label}) did not confirm within ${timeoutMs} ms`);
    this.what = what;
    this.timeoutMs = timeoutMs;
  }
}

/** Timeout options with defaults filled in; a `RangeError` for a value that is not positive. */
export function resolveNatsTimeouts(timeouts: NatsTimeouts | undefined): Required<NatsTimeouts> {
  const t = { ...DEFAULT_NATS_TIMEOUTS, ...timeouts };
  for (const [key, value] of Object.entries(t)) {
    if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
      throw new RangeError(`${key} must be a positive number of milliseconds, got ${value}`);
    }
  }
  return t;
}

/** What a link tells its owner. */
export interface LinkHooks {
  /** The connection dropped (the client reconnects by itself). */
  down(reason: string): void;
  /** The connection is back (the client has sent its subscriptions again). */
  up(): void;
}

/** Where a link connects: server URLs (the link owns the connection) or a given connection. */
export type LinkSource = { servers: string[] } | { connection: NatsConnectionLike };

interface Pending {
  promise: Promise<void>;
  reject(error: Error): void;
}

/** One NATS connection of the layer, with its up/down state and bounded confirmations. */
export class NatsLink {
  /** The connection's name in errors and logs. */
  readonly label: string;
  readonly #source: LinkSource;
  readonly #timeouts: Required<NatsTimeouts>;
  readonly #backoff: Required<NatsBackoffOptions>;
  readonly #hooks: LinkHooks;
  #nc: NatsConnectionLike | undefined;
  #opening: Promise<NatsConnectionLike> | undefined;
  #up = false;
  #closed = false;
  #attempt = 0;
  /** The confirmation the writes of the current synchronous run share (not sent yet). */
  #next: Pending | undefined;
  /** Confirmations sent and not answered yet (failed when the connection drops). */
  #inFlight = new Set<Pending>();
  #watching: Promise<void> | undefined;

  /** Prepares a link; nothing connects before {@linkcode open}. */
  constructor(
    source: LinkSource,
    label: string,
    options: {
      timeouts: Required<NatsTimeouts>;
      backoff?: NatsBackoffOptions;
      hooks: LinkHooks;
    },
  ) {
    this.#source = source;
    this.label = label;
    this.#timeouts = options.timeouts;
    this.#backoff = { minDelayMs: 50, maxDelayMs: 2000, ...options.backoff };
    this.#hooks = options.hooks;
  }

  /** True when the link owns its connection (opened from URLs) and closes it. */
  get owned(): boolean {
    return "servers" in this.#source;
  }

  /** True while the connection is open and not reconnecting. */
  get up(): boolean {
    return this.#up && !!this.#nc && !this.#nc.isClosed();
  }

  /** The connection (after {@linkcode open}). */
  get connection(): NatsConnectionLike {
    if (!this.#nc) throw new LayerUnavailableError(`NATS (${this.label}) is not connected`);
    return this.#nc;
  }

  /** The largest payload the server accepts, in bytes (1 MB until known). */
  get maxPayload(): number {
    return this.#nc?.info?.max_payload ?? 1024 * 1024;
  }

  /** Connects (idempotent; bounded by `connectTimeoutMs`); throws LayerUnavailableError. */
  async open(): Promise<NatsConnectionLike> {
    if (this.#nc) return this.#nc;
    this.#opening ??= this.#connect().finally(() => this.#opening = undefined);
    return await this.#opening;
  }

  async #connect(): Promise<NatsConnectionLike> {
    if ("connection" in this.#source) {
      this.#adopt(this.#source.connection);
      return this.#source.connection;
    }
    const ms = this.#timeouts.connectTimeoutMs;
    const attempt = connect({
      servers: this.#source.servers,
      name: this.label,
      timeout: ms,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectDelayHandler: () => {
        const { minDelayMs, maxDelayMs } = this.#backoff;
        return Math.min(maxDelayMs, minDelayMs * 2 ** this.#attempt++);
      },
      waitOnFirstConnect: false,
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NatsTimeoutError("connect", this.label, ms)), ms);
    });
    try {
      const nc = await Promise.race([attempt, expired]);
      if (this.#closed) {
        await nc.close().catch(() => {});
        throw new LayerUnavailableError(`NATS (${this.label}) was closed while connecting`);
      }
      this.#adopt(nc);
      return nc;
    } catch (error) {
      // A connection that arrives after the timeout is closed at once.
      attempt.then((nc) => nc.close()).catch(() => {});
      if (error instanceof LayerUnavailableError) throw error;
      throw new LayerUnavailableError(
        `NATS (${this.label}) is unavailable: ${(error as Error)?.message ?? error}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  #adopt(nc: NatsConnectionLike): void {
    this.#nc = nc;
    this.#up = !nc.isClosed();
    this.#watching = this.#watch(nc);
  }

  async #watch(nc: NatsConnectionLike): Promise<void> {
    for await (const status of nc.status()) {
      if (this.#closed) continue;
      if (status.type === "disconnect" || status.type === "close") {
        const wasUp = this.#up;
        this.#up = false;
        this.#failInFlight(`NATS (${this.label}) disconnected`);
        if (wasUp) this.#hooks.down(`NATS connection (${this.label}) lost`);
      } else if (status.type === "reconnect") {
        this.#attempt = 0;
        // The client may say "reconnect" twice for one outage (a drop during its handshake):
        // the owner hears it once.
        const wasDown = !this.#up;
        this.#up = true;
        if (wasDown) this.#hooks.up();
      }
    }
  }

  #failInFlight(reason: string): void {
    const pending = [...this.#inFlight];
    if (this.#next) pending.push(this.#next);
    for (const p of pending) p.reject(new LayerUnavailableError(reason));
  }

  /** Throws LayerUnavailableError unless the connection is up (`what failed: ...`). */
  assertUp(what: string): NatsConnectionLike {
    if (!this.up) {
      throw new LayerUnavailableError(`${what} failed: NATS (${this.label}) is unavailable`);
    }
    return this.#nc!;
  }

  /**
   * Resolves once the server answered a PING written after every command written so far in this
   * synchronous run; rejects with {@linkcode NatsTimeoutError} after `commandTimeoutMs`, or with
   * LayerUnavailableError when the connection is down or drops first.
   */
  confirm(what: string): Promise<void> {
    const nc = this.assertUp(what);
    if (this.#next) return this.#next.promise;
    let reject!: (error: Error) => void;
    let resolve!: () => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const pending: Pending = { promise, reject };
    this.#next = pending;
    // The PING goes out after the commands of this run: they all share it.
    queueMicrotask(() => {
      if (this.#next === pending) this.#next = undefined;
      this.#inFlight.add(pending);
      const ms = this.#timeouts.commandTimeoutMs;
      const timer = setTimeout(() => reject(new NatsTimeoutError(what, this.label, ms)), ms);
      const done = () => {
        clearTimeout(timer);
        this.#inFlight.delete(pending);
      };
      promise.then(done, done);
      if (!this.up) {
        reject(new LayerUnavailableError(`${what} failed: NATS (${this.label}) is unavailable`));
        return;
      }
      nc.flush().then(resolve, (error) =>
        reject(
          new LayerUnavailableError(`${what} failed: NATS (${this.label}): ${error}`, {
            cause: error,
          }),
        ));
    });
    return promise;
  }

  /** Closes an owned connection (a given one stays open); idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#failInFlight(`NATS (${this.label}) closed`);
    await this.#opening?.catch(() => {});
    const nc = this.#nc;
    this.#up = false;
    if (nc && this.owned) await nc.close().catch(() => {});
    if (this.owned) await this.#watching;
  }
}
