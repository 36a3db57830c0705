/**
 * A serial task queue: a connection's frames (and, apart, its layer messages) are handled one
 * after another, in arrival order.
 *
 * @module
 */
import { getLogger } from "../logger.ts";

/** One queued piece of work. */
export type Task = () => Promise<void> | void;

/** Tasks run one after another; a failing task is logged and never stops the queue. */
export class SerialQueue {
  #tail: Promise<void> = Promise.resolve();

  /** Queues `task` behind the earlier ones; resolves once it ran (never rejects). */
  push(task: Task): Promise<void> {
    const run = this.#tail.then(task).catch((error) => {
      getLogger().error("Unhandled error in connection task", { error });
    });
    this.#tail = run;
    return run;
  }

  /** Resolves once every task queued so far has run. */
  get idle(): Promise<void> {
    return this.#tail;
  }
}
