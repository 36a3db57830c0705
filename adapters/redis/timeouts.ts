/**
 * Bounded waits on Redis: the timeout options, the typed timeout error, and the client wrapper
 * that applies the command timeout to every connection the layers and the job queue open.
 *
 * node-redis's own command timeout only covers the time before a command is written; a paused
 * server (SIGSTOP) accepts the bytes and never answers, so the reply wait is bounded here.
 *
 * @module
 */
import { LayerUnavailableError } from "../../src/layers/kit.ts";
import type { RedisClientLike } from "./redis_client.ts";
import { backgroundInterval } from "../../src/layers/kit.ts";

/**
 * How long the layers (and the job queue) wait for Redis. Both bounds exist so that a Redis that
 * is down, unreachable or paused (SIGSTOP, a frozen VM, a black-holed network) turns into a typed
 * error within a bounded time instead of a wait that lasts as long as the outage.
 */
export interface RedisTimeouts {
  /**
   * Milliseconds `connect()` (and the first use, which connects) waits for a connection to
   * become ready. After that it fails with {@linkcode LayerUnavailableError} and the next call
   * tries again. Default 5000.
   */
  connectTimeoutMs?: number;
  /**
   * Milliseconds a command waits for its reply before it fails with a
   * {@linkcode RedisTimeoutError} (a {@linkcode LayerUnavailableError}). Blocking commands
   * (`BLPOP`, `BZPOPMIN`, ...) get their block time on top. While a command on a connection is
   * overdue, further commands on that connection fail at once (the server is not answering);
   * the first reply that arrives ends that state. Deadlines are checked every tenth of this
   * (at most every 250 ms), so the error comes up to that much later. Default 5000.
   */
  commandTimeoutMs?: number;
}

/** The default {@linkcode RedisTimeouts}. */
export const DEFAULT_REDIS_TIMEOUTS: Readonly<Required<RedisTimeouts>> = Object.freeze({
  connectTimeoutMs: 5000,
  commandTimeoutMs: 5000,
});

/**
 * A Redis command got no reply within `commandTimeoutMs` (the server is paused, overloaded or
 * unreachable without the connection having dropped). A {@linkcode LayerUnavailableError}: code
 * that handles "Redis is away" handles this too.
 */
export class RedisTimeoutError extends LayerUnavailableError {
  /** The command name (`PUBLISH`, `EVALSHA`, `SUBSCRIBE`, ...). */
  readonly command: string;
  /** The timeout that expired, in milliseconds. */
  readonly timeoutMs: number;
  /** Creates the error for `command` on the connection `label`. */
  constructor(command: string, label: string, timeoutMs: number, overdue = false) {
    super(
      overdue
        ? `${command} not sent: Redis (${label}) has not answered an earlier command for ${timeoutMs} ms`
        : `${command} got no reply from Redis (${label}) within ${timeoutMs} ms`,
    );
    this.command = command;
    this.timeoutMs = timeoutMs;
  }
}

/** Timeout options with defaults filled in; a `RangeError` for a value that is not a positive number. */
export function resolveTimeouts(timeouts: RedisTimeouts | undefined): Required<RedisTimeouts> {
  const t = { ...DEFAULT_REDIS_TIMEOUTS, ...timeouts };
  for (const [key, value] of Object.entries(t)) {
    if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
      throw new RangeError(`${key} must be a positive number of milliseconds, got ${value}`);
    }
  }
  return t;
}

const LIST_BLOCKING = new Set(["BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX", "BRPOPLPUSH", "BLMOVE"]);

/** Milliseconds a blocking command may legitimately wait on the server; Infinity for "forever". */
export function blockingMs(args: readonly string[]): number {
  const name = String(args[0] ?? "").toUpperCase();
  let seconds: number | undefined;
  if (LIST_BLOCKING.has(name)) seconds = Number(args[args.length - 1]);
  else if (name === "BLMPOP" || name === "BZMPOP") seconds = Number(args[1]);
  else if (name === "XREAD" || name === "XREADGROUP") {
    const at = args.findIndex((a) => String(a).toUpperCase() === "BLOCK");
    if (at === -1) return 0;
    const ms = Number(args[at + 1]);
    return ms === 0 ? Infinity : Number.isFinite(ms) ? ms : 0;
  } else if (name === "WAIT" || name === "WAITAOF") {
    const ms = Number(args[args.length - 1]);
    return ms === 0 ? Infinity : Number.isFinite(ms) ? ms : 0;
  }
  if (seconds === undefined || !Number.isFinite(seconds)) return 0;
  return seconds === 0 ? Infinity : seconds * 1000;
}

/** A command waiting for its reply: when it is overdue, and what to do then. */
interface Pending {
  deadline: number;
  expire(): void;
}

/**
 * A client whose commands fail with {@linkcode RedisTimeoutError} when no reply comes in time.
 * The reply slot stays in node-redis's queue (the connection stays consistent); a late reply is
 * ignored.
 *
 * The deadlines are checked by one background tick per client (a tenth of the timeout, at most
 * 250 ms, so a timeout fires up to that much late), running only while a command waits and stopped
 * by `close()`, `destroy()` or {@linkcode TimedClient.stop}: no timer per command.
 */
export class TimedClient implements RedisClientLike {
  readonly #raw: RedisClientLike;
  readonly #label: string;
  readonly #timeoutMs: number;
  /** Commands overdue right now (sent, not answered within their time). */
  #overdue = 0;
  readonly #pending = new Set<Pending>();
  #stopWatch: (() => void) | undefined;

  constructor(raw: RedisClientLike, label: string, timeoutMs: number) {
    this.#raw = raw;
    this.#label = label;
    this.#timeoutMs = timeoutMs;
  }

  get isReady(): boolean {
    return this.#raw.isReady;
  }
  /** True when the wrapped client talks to a Redis Cluster. */
  get isCluster(): boolean {
    return (this.#raw as { isCluster?: boolean }).isCluster === true;
  }
  /** The wrapped client. */
  get raw(): RedisClientLike {
    return this.#raw;
  }
  get isOpen(): boolean {
    return this.#raw.isOpen;
  }
  connect(): Promise<unknown> {
    return this.#raw.connect();
  }
  duplicate(): RedisClientLike {
    return this.#raw.duplicate();
  }
  sendCommand(args: string[]): Promise<unknown> {
    return this.#timed(
      String(args[0]).toUpperCase(),
      blockingMs(args),
      () => this.#raw.sendCommand(args),
    );
  }
  subscribe(
    channel: string,
    listener: (message: string, channel: string) => void,
  ): Promise<unknown> {
    return this.#timed("SUBSCRIBE", 0, () => this.#raw.subscribe(channel, listener));
  }
  unsubscribe(channel: string): Promise<unknown> {
    return this.#timed("UNSUBSCRIBE", 0, () => this.#raw.unsubscribe(channel));
  }
  close(): Promise<unknown> {
    this.stop();
    return this.#raw.close();
  }
  destroy(): unknown {
    this.stop();
    return this.#raw.destroy();
  }
  /** Stops checking deadlines (the connection is closed, or handed back to its owner). */
  stop(): void {
    this.#stopWatch?.();
    this.#stopWatch = undefined;
  }

  /** Forgets a settled command; the deadline check stops when none is waiting (no idle timer). */
  #settle(entry: Pending): void {
    this.#pending.delete(entry);
    if (this.#pending.size === 0) this.stop();
  }

  #watch(): void {
    if (this.#stopWatch || !this.#raw.isOpen) return;
    const tick = Math.min(250, Math.max(5, Math.floor(this.#timeoutMs / 10)));
    this.#stopWatch = backgroundInterval(() => {
      const now = performance.now();
      for (const entry of this.#pending) {
        if (entry.deadline > now) continue;
        this.#settle(entry);
        entry.expire();
      }
    }, tick);
  }
  // deno-lint-ignore no-explicit-any
  on(event: string, listener: (...args: any[]) => void): unknown {
    return this.#raw.on(event, listener);
  }
  // deno-lint-ignore no-explicit-any
  off(event: string, listener: (...args: any[]) => void): unknown {
    return this.#raw.off(event, listener);
  }

  #timed(command: string, blockMs: number, run: () => Promise<unknown>): Promise<unknown> {
    if (this.#overdue > 0 && this.#raw.isReady) {
      return Promise.reject(new RedisTimeoutError(command, this.#label, this.#timeoutMs, true));
    }
    let promise: Promise<unknown>;
    try {
      promise = Promise.resolve(run());
    } catch (error) {
      return Promise.reject(error);
    }
    if (blockMs === Infinity) return promise;
    const limit = this.#timeoutMs + blockMs;
    return new Promise((resolve, reject) => {
      let late = false;
      const entry: Pending = {
        deadline: performance.now() + limit,
        expire: () => {
          late = true;
          this.#overdue++;
          reject(new RedisTimeoutError(command, this.#label, limit));
        },
      };
      this.#pending.add(entry);
      this.#watch();
      promise.then(
        (value) => {
          this.#settle(entry);
          if (late) this.#overdue--;
          else resolve(value);
        },
        (error) => {
          this.#settle(entry);
          if (late) this.#overdue--;
          else reject(error);
        },
      );
    });
  }
}
