/**
 * {@linkcode eventLog}: records what an `onEvent` source tells (a worker, a job queue, a presence
 * backend) so that a test awaits an event instead of sleeping or polling, past events included:
 * an event told before the test got round to awaiting it is not missed.
 *
 * @module
 */

/** Failure bound of {@linkcode EventLog.next}: never what makes a test pass. */
export const EVENT_BOUND_MS = 10_000;

/** The events of one source, in the order they were told. */
export interface EventLog<E> {
  /** Every event so far. */
  readonly seen: readonly E[];
  /**
   * The first event at index `from` or later (default 0) that `pick` accepts: at once when one was
   * already told, else when it is. Rejects, naming `what` and listing the events, after
   * {@linkcode EVENT_BOUND_MS}.
   */
  next(pick: (event: E) => boolean, what: string, from?: number): Promise<E>;
  /** The index of `event` in {@linkcode seen} (to await what comes after it). */
  indexOf(event: E): number;
  /** Stops recording; waits still pending reject. */
  stop(): void;
}

/** Starts recording `source`'s events. */
export function eventLog<E>(
  source: { onEvent(listener: (event: E) => void): () => void },
): EventLog<E> {
  const seen: E[] = [];
  const waiters = new Set<{
    from: number;
    pick: (e: E) => boolean;
    resolve: (e: E) => void;
    reject: (error: Error) => void;
  }>();
  const off = source.onEvent((event) => {
    seen.push(event);
    for (const w of [...waiters]) {
      if (seen.length - 1 >= w.from && w.pick(event)) {
        waiters.delete(w);
        w.resolve(event);
      }
    }
  });
  return {
    seen,
    next(pick, what, from = 0) {
      const found = seen.slice(from).find(pick);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise<E>((resolve, reject) => {
        const fail = (why: string) => {
          waiters.delete(waiter);
          clearTimeout(timer);
          const told = JSON.stringify(
            seen.slice(from),
            (_k, v) => v instanceof Error ? String(v) : v,
          );
          reject(new Error(`${why}: ${what}; told: ${told.slice(0, 2000)}`));
        };
        const timer = setTimeout(
          () => fail(`No event within ${EVENT_BOUND_MS} ms`),
          EVENT_BOUND_MS,
        );
        const waiter = {
          from,
          pick,
          resolve: (e: E) => {
            clearTimeout(timer);
            resolve(e);
          },
          reject: () => fail("Stopped before the event"),
        };
        waiters.add(waiter);
      });
    },
    indexOf: (event) => seen.indexOf(event),
    stop() {
      off();
      for (const w of [...waiters]) w.reject(new Error("stopped"));
    },
  };
}
