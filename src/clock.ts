/**
 * The clock the library's timers read: heartbeats, connection idle and close timeouts, rate
 * limits, mailbox expiries, the layer reader's retries, job delays, leases, retries and
 * timeouts. The library reads time only through {@linkcode clock}; it is the system clock
 * (`Date.now()`, `setTimeout`) unless {@linkcode setClock} installs another one, which is what the
 * testing module's `fakeClock()` does so that a test can move time forward by hand: a 24 h expiry
 * is tested in milliseconds.
 *
 * ```ts
 * import { clock } from "./clock.ts";
 *
 * const started = clock.now();
 * const timer = clock.setTimeout(() => console.log("later"), 1_000);
 * clock.clearTimeout(timer);
 * await clock.sleep(1); // or clock.sleep(ms, signal): rejects with the signal's reason on abort
 * console.log(clock.now() - started >= 0);
 * ```
 *
 * Timers the Redis server keeps (key TTLs, its own `TIME`) are not on this clock.
 *
 * @module
 */

/** A timer handle, as returned by {@linkcode Clock.setTimeout} / {@linkcode Clock.setInterval}. */
export type TimerHandle = ReturnType<typeof setTimeout>;

/** A source of time and timers. Any object with these five methods will do. */
export interface Clock {
  /** The current time, epoch ms (as `Date.now()`). */
  now(): number;
  /** Calls `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Calls `fn` every `ms`. */
  setInterval(fn: () => void, ms: number): TimerHandle;
  /**
   * Cancels a timer or an interval made by this clock; handles it did not make (another clock's,
   * `undefined`) are ignored.
   */
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** The real clock: `Date.now()` (read at each call, so a skewed `Date.now` shows) and timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle),
};

let current: Clock = systemClock;

/**
 * Installs `next` as the clock the whole library reads from now on (timers already set stay on
 * the clock that made them, and can still be cleared); returns a function that puts the previous
 * clock back. For tests: see `fakeClock()` in the testing module.
 */
export function setClock(next: Clock): () => void {
  const previous = current;
  current = next;
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    if (current === next) current = previous;
  };
}

/** The clock in use now (the system clock unless {@linkcode setClock} replaced it). */
export function getClock(): Clock {
  return current;
}

/** The library's view of time: each call goes to the clock in use at that moment. */
export const clock: Clock & {
  /** Resolves after `ms` on the clock in use; rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
} = {
  now: () => current.now(),
  setTimeout: (fn, ms) => current.setTimeout(fn, ms),
  setInterval: (fn, ms) => current.setInterval(fn, ms),
  clearTimeout(handle) {
    if (handle === undefined) return;
    current.clearTimeout(handle);
    // A timer made before the clock was replaced (or after it was put back) is another clock's.
    if (current !== systemClock) systemClock.clearTimeout(handle);
  },
  sleep(ms, signal) {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const aborted = () => {
        clock.clearTimeout(timer);
        reject(signal!.reason);
      };
      const timer = clock.setTimeout(() => {
        signal?.removeEventListener("abort", aborted);
        resolve();
      }, ms);
      signal?.addEventListener("abort", aborted, { once: true });
    });
  },
};
