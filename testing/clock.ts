/**
 * A skewed clock for tests: makes this process's `Date.now()` run ahead of (or behind) real time,
 * as on a machine whose clock is off, to check that a component relies on a shared clock (the
 * Redis server's) rather than on each process's.
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
