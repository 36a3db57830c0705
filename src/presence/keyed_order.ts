/**
 * {@linkcode KeyedOrder}: calls that share a key run one after another, in call order (a
 * presence backend's track of a connection must not be overtaken by its own untrack).
 *
 * @module
 */

/** Runs the calls of each key one after another; one entry per key with a call in flight. */
export class KeyedOrder {
  readonly #tails = new Map<string, Promise<void>>();

  /**
   * Runs `call` after the calls of `key` made before it settled; with none in flight it starts
   * at once (synchronously), so calls reach their backend in the order they were made.
   */
  run<T>(key: string, call: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key);
    let run: Promise<T>;
    if (previous) {
      run = previous.then(call);
    } else {
      try {
        run = call();
      } catch (error) {
        run = Promise.reject(error);
      }
    }
    const tail = run.then(() => {}, () => {});
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return run;
  }

  /** How many keys have calls in flight. */
  get size(): number {
    return this.#tails.size;
  }
}
