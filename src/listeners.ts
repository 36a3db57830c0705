/**
 * {@linkcode Listeners}: the `onEvent` listeners of one object (a worker, a job queue, a presence
 * backend). Listeners are called synchronously, in the order they were added; one that throws is
 * logged and the others still run, so a listener cannot break what told it.
 *
 * @module
 */
import { getLogger } from "./logger.ts";

/** The listeners of events `E`. */
export class Listeners<E> {
  readonly #listeners = new Set<(event: E) => void>();
  readonly #label: string;

  /** `label` names the owner in the log line written when a listener throws. */
  constructor(label: string) {
    this.#label = label;
  }

  /** Adds a listener; returns the function that removes it. */
  listen(listener: (event: E) => void): () => void {
    if (typeof listener !== "function") throw new TypeError("An event listener must be a function");
    const own = (event: E) => listener(event); // the same function added twice is two listeners
    this.#listeners.add(own);
    return () => {
      this.#listeners.delete(own);
    };
  }

  /** True when someone listens (so that an event is only built when it will be told). */
  get active(): boolean {
    return this.#listeners.size > 0;
  }

  /** Tells every listener; a listener that throws is logged and the others still run. */
  emit(event: E): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        getLogger().error(`${this.#label}: an onEvent listener threw`, { error });
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}
