/**
 * The receive loop of a connection on a layer with `receiveNow` (layer_loop.ts): a message that
 * was waiting is taken at once, and one that arrives later is pushed into the pump (its
 * {@linkcode ReceiveSink}) by whoever delivered it, and handled there: no promise and no
 * microtask hop per message. A layer that cannot answer at once (`null`) is waited on with
 * `receive`, as by the loop of a layer without `receiveNow`.
 *
 * @module
 */
import { type Stop, StopOptions } from "../abort.ts";
import type { ChannelLayer, LayerMessage, ReceiveSink } from "../layers/layer.ts";
import { getLogger } from "../logger.ts";
import { GROUP_TYPE } from "../layers/messages.ts";

/** What the pump hands each message to, and tells when it ends (the connection's layer loop). */
export interface PumpTarget {
  /**
   * Takes one received message; answers the promise to wait for before receiving the next
   * (backpressure: it never rejects), or `undefined` to go on at once.
   */
  received(message: LayerMessage): Promise<void> | undefined;
  /** The pump ended on `error` (a rejected `receive`, a rejected sink). */
  receiveFailed(error: unknown): void;
  /** The pump ended because its signal aborted while it was not parked. */
  receiveEnded(): void;
}

/** A settlement that reached the sink while `receiveNow` was still running. */
type Early = { ok: true; message: LayerMessage } | { ok: false; reason: unknown };

/**
 * Receives from `channel` until `stop` aborts or a receive fails, then tells its target, once
 * (`receiveFailed` or `receiveEnded`). An abort while parked ends the wait at once: the layer's
 * mailboxes reject the parked sink with the signal's reason. Nothing but the layer (the parked
 * sink) or a pending wait holds the pump: an idle connection keeps it and one options object.
 */
export class ReceivePump implements ReceiveSink {
  readonly #layer: ChannelLayer & Required<Pick<ChannelLayer, "receiveNow">>;
  readonly #channel: string;
  readonly #stop: Stop;
  readonly #options: StopOptions;
  readonly #target: PumpTarget;
  /** True from handing the sink to `receiveNow` until the layer settles it (or answered at once). */
  #parked = false;
  /** True while {@linkcode ReceivePump.run}'s loop is on the stack. */
  #running = false;
  #early: Early | undefined;
  #ended = false;

  /** Starts receiving at once (the first message may be handled before this returns). */
  constructor(
    layer: ChannelLayer & Required<Pick<ChannelLayer, "receiveNow">>,
    channel: string,
    stop: Stop,
    target: PumpTarget,
  ) {
    this.#layer = layer;
    this.#channel = channel;
    this.#stop = stop;
    this.#options = new StopOptions(stop); // one object for every wait
    this.#target = target;
    this.#run();
  }

  /**
   * The layer's push: the next message (called once per parking, maybe from a sender's call). A
   * group relay (a frame written to the client, no user code) is handled here and now; any other
   * kind (an event, a topic event, a resync: the consumer's own handlers) a microtask later, so
   * that a sender never runs a receiver's handler inside its own `send` (no re-entry, no stack
   * that grows with a chain of handlers answering each other). Messages arriving meanwhile wait in
   * the mailbox, in order, and are taken after it.
   */
  resolve(message: LayerMessage): void {
    if (!this.#settle()) return;
    if (this.#running) this.#early = { ok: true, message };
    else if (message.type === GROUP_TYPE) {
      if (this.#take(message)) this.#run();
    } else {
      queueMicrotask(() => {
        if (this.#take(message)) this.#run();
      });
    }
  }

  /** The layer ended the parked wait (the signal aborted, the layer closed). */
  reject(reason: unknown): void {
    if (!this.#settle()) return;
    if (this.#running) this.#early = { ok: false, reason };
    else this.#end(true, reason);
  }

  /** Unparks; false (logged) for a settlement of a sink that was not parked. */
  #settle(): boolean {
    if (this.#parked) {
      this.#parked = false;
      return true;
    }
    getLogger().error(`Channel layer settled the receiver of ${this.#channel} twice; ignored`);
    return false;
  }

  /** Hands `message` on; true to receive the next at once, false when waiting for the queue. */
  #take(message: LayerMessage): boolean {
    const wait = this.#target.received(message);
    if (wait === undefined) return true;
    const next = () => this.#run();
    wait.then(next, next);
    return false;
  }

  /** Takes what is waiting, until the sink is parked, the queue is full or the signal aborted. */
  #run(): void {
    if (this.#ended) return;
    const stop = this.#stop;
    this.#running = true;
    try {
      while (!stop.aborted) {
        this.#parked = true;
        let got = this.#layer.receiveNow(this.#channel, this, this.#options);
        if (got === undefined) {
          const early = this.#early;
          if (early === undefined) return; // parked: `resolve` or `reject` goes on
          this.#early = undefined;
          if (!early.ok) return this.#end(true, early.reason);
          got = early.message;
        } else this.#parked = false;
        if (got === null) return this.#fallBack();
        if (!this.#take(got)) return;
      }
      this.#end(false);
    } catch (error) {
      this.#parked = false; // a layer that broke its contract (receiveNow threw)
      this.#end(true, error);
    } finally {
      this.#running = false;
    }
  }

  /** The layer cannot answer at once: one wait with `receive`, then `receiveNow` again. */
  #fallBack(): void {
    this.#layer.receive(this.#channel, this.#options).then(
      (message) => {
        if (this.#take(message)) this.#run();
      },
      (error) => this.#end(true, error),
    );
  }

  /** Ends the pump and tells the target, once: why when it `failed`. */
  #end(failed: boolean, reason?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      if (failed) this.#target.receiveFailed(reason);
      else this.#target.receiveEnded();
    } catch (error) {
      getLogger().error(`Ending the receive loop of ${this.#channel} failed`, { error });
    }
  }
}
