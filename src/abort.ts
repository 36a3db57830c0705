/**
 * One `abort` listener per AbortSignal instead of one per wait, and {@linkcode Stop}: what a
 * connection's receive loop aborts, with no AbortSignal behind it unless a layer asks for one.
 *
 * A connection's receive loop passes the same options to every `layer.receive()`. Adding and
 * removing a DOM event listener for each wait is a large share of the cost of delivering a group
 * message (measured on Deno 2.9: 4.7 → 3.2 µs per delivery in the in-memory layer with 1,000
 * members), so layers register their per-wait callback here instead.
 *
 * @module
 */

const callbacks = new WeakMap<AbortSignal, (() => void)[]>();
const nothing = () => {};

/**
 * What a connection's receive loop aborts at close: `aborted` and `reason` as an AbortSignal has
 * them, and its {@linkcode onAbort} callbacks, with no AbortSignal behind it until something asks
 * for {@linkcode Stop.signal}. On Node a materialized AbortSignal (an EventTarget with two maps
 * and a shape of its own) is about 0.7 KiB, which every idle connection would keep; the built-in
 * layers' mailboxes watch the Stop itself (see {@linkcode stopOf}).
 */
export class Stop {
  /** True once {@linkcode Stop.abort} was called. */
  aborted = false;
  /** What it was aborted with. */
  reason: unknown = undefined;
  #controller: AbortController | undefined;
  // The first listener in a field of its own (an idle connection's Stop has one: its mailbox's
  // watch), the others in an array made for the second.
  #first: StopListener | undefined;
  #more: StopListener[] | undefined;

  /** An AbortSignal that aborts with this Stop (made on first use, aborted if this is). */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.aborted) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }

  /** Aborts (once): its signal, if made, then its listeners, in the order they came. */
  abort(reason: unknown = new DOMException("This operation was aborted", "AbortError")): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.#controller?.abort(reason);
    const first = this.#first;
    const more = this.#more;
    this.#first = this.#more = undefined;
    if (first) tellStopped(first);
    if (more) { for (const l of more) tellStopped(l); }
  }

  /**
   * Tells `listener` (a function, or an object's `stopped()`) once when this aborts; not at all
   * if it already has. Returns the function that unregisters it.
   */
  listen(listener: StopListener): () => void {
    if (this.aborted) return nothing;
    if (!this.#first) this.#first = listener;
    else if (this.#more) this.#more.push(listener);
    else this.#more = [listener];
    return () => {
      if (this.#first === listener) this.#first = undefined;
      else if (this.#more) {
        const i = this.#more.indexOf(listener);
        if (i !== -1) this.#more.splice(i, 1);
      }
    };
  }
}

/** What a {@linkcode Stop} tells when it aborts. */
export type StopListener = (() => void) | { stopped(): void };

function tellStopped(listener: StopListener): void {
  if (typeof listener === "function") listener();
  else listener.stopped();
}

/** Where {@linkcode StopOptions} keep their {@linkcode Stop}. */
const STOP: unique symbol = Symbol("switchboard.stop");

/**
 * Receive options (`ReceiveOptions`) whose `signal` is made only when a layer reads it: the
 * built-in layers' mailboxes take the {@linkcode Stop} through {@linkcode stopOf} instead. The
 * getter is on the prototype (one shape for every instance); `signal` is not an own property, so
 * a layer that copies the options with a spread loses it (read `options.signal` instead).
 */
export class StopOptions {
  readonly [STOP]: Stop;
  constructor(stop: Stop) {
    this[STOP] = stop;
  }
  /** The Stop's AbortSignal (made now if it was not yet). */
  get signal(): AbortSignal {
    return this[STOP].signal;
  }
}

/**
 * What aborts a wait with these receive options: the {@linkcode Stop} of {@linkcode StopOptions}
 * (its signal is not made), else `options.signal`.
 */
export function stopOf(
  options: { readonly signal?: AbortSignal } | undefined,
): AbortSignal | Stop | undefined {
  if (options instanceof StopOptions) return options[STOP];
  return options?.signal;
}

function fire(signal: AbortSignal): void {
  const list = callbacks.get(signal);
  if (!list) return;
  callbacks.delete(signal);
  for (const f of list.splice(0)) f();
}

/**
 * Runs `callback` once when `signal` aborts (not at all if it never does). Returns the function
 * that unregisters it; call it when the wait ends another way. With no signal, does nothing.
 * (An array, not a Set: there is usually one wait per signal, and idle connections keep theirs.)
 */
export function onAbort(
  signal: AbortSignal | Stop | undefined,
  callback: () => void,
): () => void {
  if (!signal) return nothing;
  if (signal instanceof Stop) return signal.listen(callback);
  let list = callbacks.get(signal);
  if (!list) {
    // `[callback]`, not `[]` then push: an array grown by a push reserves room for 17.
    callbacks.set(signal, list = [callback]);
    signal.addEventListener("abort", () => fire(signal), { once: true });
  } else list.push(callback);
  const own = list;
  return () => {
    const i = own.indexOf(callback);
    if (i !== -1) own.splice(i, 1);
  };
}

/**
 * Calls `fn` every `ms` without keeping the process alive (Deno and Node), until the returned stop
 * function is called. Built on `AbortSignal.timeout` rather than `setInterval`: an unref'd timer
 * that test sanitizers do not count, so a long-lived layer shared by many tests leaks no interval
 * into the test that happened to start it.
 */
export function backgroundInterval(fn: () => void, ms: number): () => void {
  let stopped = false;
  const arm = () => {
    AbortSignal.timeout(ms).addEventListener("abort", () => {
      if (stopped) return;
      fn();
      if (!stopped) arm();
    }, { once: true });
  };
  arm();
  return () => {
    stopped = true;
  };
}
