/**
 * A serial task queue: a connection's frames (and, apart, its layer messages) are handled one
 * after another, in arrival order.
 *
 * @module
 */
import { getLogger } from "../logger.ts";

/**
 * A settled promise shared by every task that finished synchronously: a task answering it (the
 * same object, not just any resolved promise) is known to be done, so the queue stays idle.
 */
export const DONE: Promise<void> = Promise.resolve();

/**
 * Runs `work`, then `after` once it is done: at once when it answered {@linkcode DONE} (or
 * nothing), else when its promise settles; answers DONE or that promise. A throw from `work`
 * runs `after`, then propagates.
 */
export function withFinally(work: () => Promise<void> | void, after: () => void): Promise<void> {
  let done: Promise<void> | void;
  try {
    done = work();
  } catch (error) {
    after();
    throw error;
  }
  if (done === undefined || done === DONE) {
    after();
    return DONE;
  }
  return done.finally(after);
}

/** One queued piece of work. */
export type Task = () => Promise<void> | void;

function logFailure(error: unknown): void {
  getLogger().error("Unhandled error in connection task", { error });
}

/** Tasks run one after another; a failing task is logged and never stops the queue. */
export class SerialQueue {
  #tail: Promise<void> = DONE;
  /** True when no task is queued or running. */
  #idle = true;

  /** Queues `task` behind the earlier ones; resolves once it ran (never rejects). */
  push(task: Task): Promise<void> {
    return this.#chain(this.#tail.then(task));
  }

  /**
   * Runs `task` at once when the queue is idle (no microtask hop: a task that finishes
   * synchronously answers {@linkcode DONE} and leaves the queue idle), else queues it as
   * {@linkcode push} does. Resolves once it ran (never rejects).
   */
  run(task: Task): Promise<void> {
    if (!this.#idle) return this.push(task);
    let result: Promise<void> | void;
    try {
      result = task();
    } catch (error) {
      logFailure(error);
      return DONE;
    }
    if (result === DONE || result === undefined) return DONE;
    return this.#chain(result);
  }

  /**
   * {@linkcode run} for `fn(owner, arg)`: with a function of a module, a caller that runs a task
   * per message makes no closure for it while the queue is idle.
   */
  runWith<O, A>(fn: (owner: O, arg: A) => Promise<void> | void, owner: O, arg: A): Promise<void> {
    if (!this.#idle) return this.push(() => fn(owner, arg));
    let result: Promise<void> | void;
    try {
      result = fn(owner, arg);
    } catch (error) {
      logFailure(error);
      return DONE;
    }
    if (result === DONE || result === undefined) return DONE;
    return this.#chain(result);
  }

  #chain(work: Promise<void>): Promise<void> {
    this.#idle = false;
    const settled = () => {
      if (this.#tail !== run) return;
      this.#idle = true;
      this.#tail = DONE; // an idle connection keeps no promise of its own
    };
    const run: Promise<void> = work.then(settled, (error) => {
      logFailure(error);
      settled();
    });
    this.#tail = run;
    return run;
  }

  /** Resolves once every task queued so far has run. */
  get idle(): Promise<void> {
    return this.#tail;
  }
}
