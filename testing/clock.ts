/**
 * Clocks for tests.
 *
 * - {@linkcode fakeClock}: a clock that moves only when the test says so, installed where the
 *   library's timers read time (heartbeats, connection idle and close timeouts, rate limits,
 *   mailbox expiries, job delays, leases, retries and timeouts), so that a 24 h expiry is tested
 *   in milliseconds:
 *
 * ```ts
 * import { fakeClock } from "@switchboard/switchboard/testing";
 *
 * {
 *   using clock = fakeClock(); // the library's clock until the end of the block
 *   // ... start what sets timers ...
 *   await clock.advance(24 * 3_600_000); // fires every timer due within 24 h, in order
 * }
 * ```
 *
 * - {@linkcode skewClock}: makes this process's `Date.now()` run ahead of (or behind) real time,
 *   as on a machine whose clock is off, to check that a component relies on a shared clock (the
 *   Redis server's) rather than on each process's.
 *
 * ```ts
 * import { skewClock } from "@switchboard/switchboard/testing";
 *
 * {
 *   using _ahead = skewClock(5_000); // Date.now() is 5 s ahead until the end of the block
 *   // ... act as a process whose clock is fast ...
 * }
 * ```
 *
 * @module
 */
import { type Clock, setClock, type TimerHandle } from "../src/clock.ts";

export type { Clock, TimerHandle } from "../src/clock.ts";

/** A running skew of `Date.now()`; undo it with {@linkcode SkewedClock.restore} or `using`. */
export interface SkewedClock extends Disposable {
  /** How far `Date.now()` is shifted, in ms (positive: ahead). */
  readonly offsetMs: number;
  /** Puts the previous `Date.now()` back (idempotent). */
  restore(): void;
}

/**
 * Shifts `Date.now()` by `offsetMs` (positive: ahead, negative: behind) for the whole process
 * until restored. Skews nest: restoring puts back the clock that was in place before. Timers
 * (`setTimeout`) are not affected, nor is `performance.now()`.
 */
export function skewClock(offsetMs: number): SkewedClock {
  if (!Number.isFinite(offsetMs)) throw new TypeError("offsetMs must be a finite number of ms");
  const previous = Date.now;
  let active = true;
  Date.now = () => previous() + offsetMs;
  const restore = () => {
    if (!active) return;
    active = false;
    Date.now = previous;
  };
  return { offsetMs, restore, [Symbol.dispose]: restore };
}

/** Options of {@linkcode fakeClock}. */
export interface FakeClockOptions {
  /** The fake time to start at, epoch ms. Default: the real `Date.now()`. */
  now?: number;
}

interface FakeTimer {
  readonly id: number;
  due: number;
  /** The period of an interval; `undefined` for a one-shot timer. */
  readonly every: number | undefined;
  readonly fn: () => void;
}

/** Lets pending promise chains run (job claims, mailbox deliveries) after a timer fired. */
async function settle(): Promise<void> {
  for (let i = 0; i < 100; i++) await Promise.resolve();
}

/**
 * A clock whose time moves only through {@linkcode FakeClock.advance}, {@linkcode FakeClock.tick}
 * and {@linkcode FakeClock.runAll}; its timers fire then, in the order they are due, each
 * followed by the promise chains it started. Make one with {@linkcode fakeClock} (installed as
 * the library's clock) or `new FakeClock()` (not installed: {@linkcode FakeClock.install}).
 *
 * Only what reads the library's clock is faked: `Date.now()`, `setTimeout` and the testing
 * module's own receive timeouts stay real, and so do the Redis server's TTLs and clock.
 */
export class FakeClock implements Clock, Disposable {
  #now: number;
  #timers = new Map<number, FakeTimer>();
  #nextId = 1;
  #restore: (() => void) | undefined;

  /** A fake clock at `options.now` (default: the real time), not installed yet. */
  constructor(options: FakeClockOptions = {}) {
    this.#now = options.now ?? Date.now();
    if (!Number.isFinite(this.#now)) throw new TypeError("now must be a finite epoch ms");
  }

  /** The fake time, epoch ms. */
  now(): number {
    return this.#now;
  }

  /** How many timers (intervals included) are waiting. */
  get pending(): number {
    return this.#timers.size;
  }

  /** {@inheritDoc Clock.setTimeout} */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, ms, undefined);
  }

  /** {@inheritDoc Clock.setInterval} */
  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, ms, Math.max(1, delay(ms)));
  }

  /** {@inheritDoc Clock.clearTimeout} */
  clearTimeout(handle: TimerHandle | undefined): void {
    const fake = handle as unknown as { fakeTimer?: number; clock?: FakeClock } | undefined;
    if (fake?.clock === this && typeof fake.fakeTimer === "number") {
      this.#timers.delete(fake.fakeTimer);
    }
  }

  /**
   * Moves the time `ms` forward, firing every timer due on the way (including timers those set)
   * at its due time, in order; resolves once the promise chains they started have run. Pending
   * promise chains run first, so a timer set by work started just before the call counts.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new TypeError("ms must be a finite number ≥ 0");
    const target = this.#now + ms;
    await settle(); // what was started just before (a worker's first claim) sets its timers first
    for (;;) {
      const timer = this.#next();
      if (!timer || timer.due > target) break;
      await this.#fire(timer);
    }
    this.#now = target;
    await settle();
  }

  /** Fires the timers due now (`advance(0)`): what a zero-delay timer or a settled wait left. */
  tick(): Promise<void> {
    return this.advance(0);
  }

  /**
   * Fires one-shot timers in due order, moving the time to each, until none is left (intervals
   * fire on the way but do not keep it going); resolves with how many timers fired. Throws after
   * `limit` (default 10,000) firings: timers that keep setting timers.
   */
  async runAll(limit = 10_000): Promise<number> {
    let fired = 0;
    await settle();
    for (;;) {
      const timer = this.#next();
      if (!timer || ![...this.#timers.values()].some((t) => t.every === undefined)) break;
      if (++fired > limit) {
        throw new Error(`FakeClock.runAll: more than ${limit} timers fired; timers keep coming`);
      }
      await this.#fire(timer);
    }
    await settle();
    return fired;
  }

  /**
   * Makes this clock the library's (until {@linkcode FakeClock.restore} or the end of a `using`
   * block); returns it.
   */
  install(): this {
    this.#restore?.();
    this.#restore = setClock(this);
    return this;
  }

  /** Puts back the clock that was in place before {@linkcode FakeClock.install} (idempotent). */
  restore(): void {
    this.#restore?.();
    this.#restore = undefined;
  }

  /** Same as {@linkcode FakeClock.restore}, for `using`. */
  [Symbol.dispose](): void {
    this.restore();
  }

  #add(fn: () => void, ms: number, every: number | undefined): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { id, due: this.#now + delay(ms), every, fn });
    return { fakeTimer: id, clock: this } as unknown as TimerHandle;
  }

  /** The timer due first (the one set first among those due at the same time). */
  #next(): FakeTimer | undefined {
    let first: FakeTimer | undefined;
    for (const timer of this.#timers.values()) {
      if (!first || timer.due < first.due || (timer.due === first.due && timer.id < first.id)) {
        first = timer;
      }
    }
    return first;
  }

  async #fire(timer: FakeTimer): Promise<void> {
    this.#now = Math.max(this.#now, timer.due);
    if (timer.every === undefined) this.#timers.delete(timer.id);
    else timer.due += timer.every;
    timer.fn();
    await settle();
  }
}

/** A timer delay as `setTimeout` reads it: not a number, negative → 0. */
function delay(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

/**
 * Makes a {@linkcode FakeClock} and installs it as the library's clock; `using clock =
 * fakeClock()` puts the previous clock back at the end of the block.
 *
 * ```ts
 * import { fakeClock } from "@switchboard/switchboard/testing";
 *
 * using clock = fakeClock({ now: Date.UTC(2030, 0, 1) });
 * await clock.advance(60_000); // a minute passes for the library's timers
 * ```
 */
export function fakeClock(options: FakeClockOptions = {}): FakeClock {
  return new FakeClock(options).install();
}
