/**
 * A connection's side of the channel layer: its channel, its groups (joined, left, and re-joined
 * once an unreachable layer is back, with backoff), broadcasts, and the receive loop that hands
 * each layer message to the connection on a queue of its own, with backpressure.
 *
 * @module
 */
import { clock } from "../clock.ts";
import { Stop, StopOptions } from "../abort.ts";
import type { BroadcastOptions, Consumer, ConsumerClass } from "../consumer/consumer.ts";
import { ClosedError, LayerUnavailableError } from "../errors.ts";
import type { ChannelLayer, JsonValue, LayerMessage, ReceiveOptions } from "../layers/layer.ts";
import { GROUP_TYPE } from "../layers/messages.ts";
import { assertGroupName } from "../layers/names.ts";
import { getLogger } from "../logger.ts";
import { CloseCode } from "../protocol/close_codes.ts";
import { layerUnavailable } from "../protocol/error_frames.ts";
import type { AnyMessage } from "../protocol/message.ts";
import type { ConnectionObserver } from "../observe/hooks.ts";
import type { ServerSocket } from "../runtime/socket.ts";
import type { Outbox } from "./outbox.ts";
import { DONE, SerialQueue } from "./serial_queue.ts";
import { type PumpTarget, ReceivePump } from "./receive_pump.ts";
import type { StreamHooks } from "./recovery.ts";
import { sendToGroup } from "../layers/history.ts";

/** The first delay before joining an unreachable layer again, in ms (doubled up to the max). */
const RETRY_FIRST_MS = 250;
/** The longest delay between two tries, in ms. */
const RETRY_MAX_MS = 10_000;

/** What the layer loop needs of its connection. */
export interface LayerLoopHost {
  /** The consumer (its `groups` are this connection's groups). */
  readonly consumer: Consumer;
  /** Its class (`layer`, `getLayer`, `defaultGroups`, `name`). */
  readonly cls: ConsumerClass;
  /** The connection's state. */
  readonly state: "new" | "open" | "closing" | "closed";
  /** Closes the connection. */
  close(code?: number, reason?: string): void;
  /**
   * Handles one layer message (called on the loop's queue, one after another); answers
   * `DONE` (serial_queue.ts) when it finished synchronously.
   */
  layerMessage(message: LayerMessage): Promise<void>;
  /** The history streams of a consumer with `static history` (recovery.ts). */
  readonly streams?: StreamHooks;
}

/** The channel, groups and receive loop of one connection. */
export class LayerLoop implements PumpTarget {
  #layer: ChannelLayer | undefined;
  #channelName = "";
  /** The receive loop: not started (no channel yet), waiting or handling, or ended. */
  #loop: "off" | "on" | "ended" = "off";
  /** Settled when the loop ends; made only when someone waits for that (the disconnect). */
  #receiving: Promise<void> | undefined;
  #ended: (() => void) | undefined;
  /** The options of every wait, and the wait's two callbacks: made once, with the channel. */
  #options: ReceiveOptions | undefined;
  #onMessage: ((message: LayerMessage) => void) | undefined;
  #onFailure: ((error: unknown) => void) | undefined;
  /** The queue of layer messages and scheduled tasks, made at the first one. */
  #queue: SerialQueue | undefined;
  #pending = 0;
  /** Aborted when the connection closes (no AbortSignal unless a layer asks for one). */
  readonly #abort = new Stop();
  /**
   * Groups to join (the class's, then those whose join failed while the layer was away); made
   * only when there are some.
   */
  #pendingGroups: Set<string> | undefined;
  #retry: { timer?: ReturnType<typeof setTimeout>; delayMs: number } | undefined;

  /**
   * Past `maxPending` queued layer messages the loop stops receiving until they are handled.
   * `observer` (metrics) is told of each broadcast, whose message then carries its `sent_at`.
   */
  constructor(
    readonly host: LayerLoopHost,
    readonly outbox: Pick<Outbox, "write"> & { readonly socket?: ServerSocket },
    readonly maxPending: number,
    readonly observer?: ConnectionObserver,
  ) {}

  /** True when no layer message is queued or being handled (native fan-out: local_fanout.ts). */
  get quiet(): boolean {
    return this.#pending === 0;
  }

  /** The layer (undefined until started, or for a consumer without one). */
  get layer(): ChannelLayer | undefined {
    return this.#layer;
  }

  /** This connection's layer channel name ("" until it has one). */
  get channelName(): string {
    return this.#channelName;
  }

  /**
   * True once the connection's disconnect has begun: its memberships have been (or are being)
   * cleaned up, so a membership added from now on must be discarded at once.
   */
  get closed(): boolean {
    return this.host.state === "closed";
  }

  /** Resolves when every layer message queued so far has been handled. */
  get idle(): Promise<void> {
    return this.#queue ? this.#queue.idle : DONE;
  }

  /** Runs `task` on the layer queue, after the layer messages received so far. */
  schedule(task: () => Promise<void>): void {
    void (this.#queue ??= new SerialQueue()).push(task);
  }

  /**
   * Takes the class's layer and joins the class groups (and any set on the consumer before);
   * an unreachable layer is retried, the connection staying open. `undefined` for a consumer
   * without a layer, else resolves once joined (or retrying).
   */
  start(): Promise<void> | undefined {
    const { cls, consumer } = this.host;
    if (cls.layer === null) return undefined;
    this.#layer = cls.getLayer();
    const set = consumer.groups; // groups set on the consumer before, after the class's
    consumer.groups = [];
    for (const g of cls.defaultGroups()) (this.#pendingGroups ??= new Set()).add(g);
    for (const g of set) (this.#pendingGroups ??= new Set()).add(g);
    return this.#attach().catch((error) => this.unavailable(error));
  }

  /** Gets a layer channel (once) and joins the pending groups; throws while the layer is away. */
  async #attach(): Promise<void> {
    const layer = this.#layer!;
    if (!this.#channelName) {
      const name = await layer.newChannel(this.host.cls.name || "consumer");
      if (this.host.state !== "open") return LayerLoop.#release(layer, name);
      this.#channelName = name;
      this.#startReceiving();
    }
    if (!this.#pendingGroups) return;
    for (const g of [...this.#pendingGroups]) {
      if (this.host.state === "open") await this.join(g);
    }
  }

  /**
   * Releases a channel made for a connection that closed meanwhile: a wait aborted with a
   * `ClosedError` right after it starts (a layer checks the signal when called, so the wait
   * reaches its mailboxes, which then forget the channel).
   */
  static #release(layer: ChannelLayer, name: string): void {
    const release = new Stop();
    layer.receive(name, new StopOptions(release)).catch(() => {});
    release.abort(new ClosedError("connection closed"));
  }

  /**
   * The layer is unreachable: the connection stays open (frames that need no layer are still
   * answered), the client gets an error frame, and joining is retried with backoff.
   */
  unavailable(error: unknown): void {
    if (!(error instanceof LayerUnavailableError)) throw error;
    const host = this.host;
    if (host.state !== "open") return;
    getLogger().warn(`${host.cls.name}: channel layer unavailable; retrying`, { error });
    if (!this.#retry) this.outbox.write(layerUnavailable(error));
    const retry = this.#retry ??= { delayMs: RETRY_FIRST_MS };
    if (retry.timer !== undefined) return;
    retry.timer = clock.setTimeout(() => {
      retry.timer = undefined;
      retry.delayMs = Math.min(retry.delayMs * 2, RETRY_MAX_MS);
      if (host.state !== "open") return;
      // Outside the frame queue: frames are not held while the layer is tried again.
      this.#attach().then(() => this.#retry = undefined, (e) => {
        if (e instanceof LayerUnavailableError) this.unavailable(e);
        else getLogger().error(`${host.cls.name}: joining the layer failed`, { error: e });
      });
    }, retry.delayMs);
  }

  /** Stops retrying (the connection closed). */
  cancelRetry(): void {
    clock.clearTimeout(this.#retry?.timer);
  }

  /** Ends the receive loop (at its next receive); {@linkcode LayerLoop.receiving} then settles. */
  stopReceiving(): void {
    this.#abort.abort(new ClosedError("connection closed"));
  }

  /** The receive loop, until it ends (undefined before the connection has a channel). */
  get receiving(): Promise<void> | undefined {
    if (this.#loop === "off") return undefined;
    if (this.#loop === "ended") return DONE;
    return this.#receiving ??= new Promise((resolve) => this.#ended = resolve);
  }

  /** Leaves the consumer's groups (failures logged); `undefined` without a layer. */
  leaveGroups(): Promise<unknown> | undefined {
    const layer = this.#layer;
    if (!layer) return undefined;
    return Promise.all(
      this.host.consumer.groups.map((g) =>
        layer.groupDiscard(g, this.#channelName).catch((error) =>
          getLogger().warn(`Could not leave group ${g}`, { error })
        )
      ),
    );
  }

  /** The layer, or a `ClosedError` naming `what` when the consumer has none. */
  requireLayer(what: string): ChannelLayer {
    if (!this.#layer) throw new ClosedError(`${what}: ${this.host.cls.name} has no channel layer`);
    return this.#layer;
  }

  // --- groups ----------------------------------------------------------------------------------

  /** Sends `message` to the groups through the layer. */
  async broadcast(message: AnyMessage, options: BroadcastOptions): Promise<void> {
    const layer = this.requireLayer("broadcastMessage");
    const groups = options.groups === undefined
      ? this.host.consumer.groups
      : typeof options.groups === "string"
      ? [options.groups]
      : options.groups;
    const payload: LayerMessage = {
      type: GROUP_TYPE,
      message: { action: message.action, payload: (message.payload ?? null) as JsonValue },
    };
    if (options.excludeCurrent) payload.exclude = this.#channelName;
    for (const g of groups) assertGroupName(g);
    const history = this.host.cls.history;
    if (this.observer) {
      payload.sent_at = Date.now(); // the receivers' layer lag
      this.observer.published(groups.length);
    }
    await Promise.all(groups.map((g) => sendToGroup(layer, g, payload, history)));
  }

  /** Joins `group`; while the layer is away, remembers it for the retry and throws. */
  async join(group: string): Promise<void> {
    assertGroupName(group);
    const layer = this.requireLayer("joinGroup");
    if (!this.#channelName) {
      (this.#pendingGroups ??= new Set()).add(group); // joined once the layer is back
      throw new LayerUnavailableError(`joinGroup: the channel layer is unavailable`);
    }
    const { streams, cls } = this.host;
    const stream = cls.history && streams?.open(group, undefined, cls.history);
    try {
      await layer.groupAdd(group, this.#channelName);
    } catch (error) {
      if (stream) streams!.close(group);
      throw error;
    }
    if (this.#pendingGroups?.delete(group) && this.#pendingGroups.size === 0) {
      this.#pendingGroups = undefined; // an idle connection keeps no empty Set
    }
    if (this.host.state === "closed") { // a retried join that finished after the disconnect
      if (stream) streams!.close(group);
      return void await layer.groupDiscard(group, this.#channelName).catch(() => {});
    }
    const consumer = this.host.consumer;
    if (!consumer.groups.includes(group)) consumer.groups.push(group);
    if (stream) await streams!.joined(group);
    // Native fan-out (src/layers/local_fanout.ts) for groups without history: a history stream's
    // frames carry positions its recovery dedupes, so they take the loop.
    else this.#tellSocketJoined(layer, group);
  }

  /** Tells a socket with native group fan-out (Bun) that this connection joined `group`. */
  #tellSocketJoined(layer: ChannelLayer, group: string): void {
    const socket = this.outbox.socket;
    if (!socket?.joinedGroup) return;
    const quiet = () => this.quiet; // the membership reads the loop's state when a fan-out asks
    socket.joinedGroup({
      layer,
      group,
      channel: this.#channelName,
      get quiet() {
        return quiet();
      },
    });
  }

  /** Leaves `group`. */
  async leave(group: string): Promise<void> {
    assertGroupName(group);
    const layer = this.requireLayer("leaveGroup");
    this.outbox.socket?.leftGroup?.(layer, group); // native fan-out stops before the layer's
    await layer.groupDiscard(group, this.#channelName);
    this.host.streams?.close(group);
    this.host.consumer.groups = this.host.consumer.groups.filter((g) => g !== group);
  }

  // --- receive loop ----------------------------------------------------------------------------

  // Not an async function: a suspended one keeps a generator, its registers and a promise for
  // each idle connection. On a layer with `receiveNow` the layer pushes each message into a
  // ReceivePump (receive_pump.ts: no promise, no microtask hop per message); on another, the
  // two callbacks are made once and each wait costs its reaction only.

  /** Starts the loop on the connection's new channel: one wait after another until aborted. */
  #startReceiving(): void {
    this.#loop = "on";
    const layer = this.#layer!;
    if (layer.receiveNow) {
      const pumped = layer as ChannelLayer & Required<Pick<ChannelLayer, "receiveNow">>;
      new ReceivePump(pumped, this.#channelName, this.#abort, this);
      return;
    }
    this.#options = new StopOptions(this.#abort); // one object for every wait
    this.#onMessage = this.#received.bind(this); // bound: no closure context kept
    this.#onFailure = this.receiveFailed.bind(this);
    this.#next();
  }

  /** The next wait, unless the loop was stopped. */
  #next(): void {
    const options = this.#options!;
    if (this.#abort.aborted) return this.receiveEnded();
    let message: Promise<LayerMessage>;
    try {
      message = this.#layer!.receive(this.#channelName, options);
    } catch (error) {
      return this.receiveFailed(error);
    }
    message.then(this.#onMessage, this.#onFailure);
  }

  #received(message: LayerMessage): void {
    const wait = this.received(message);
    if (wait) wait.then(() => this.#next());
    else this.#next();
  }

  /**
   * Queues one received message (either loop calls it); answers what to wait for before
   * receiving the next, if anything. Backpressure: past maxPendingFrames queued layer messages,
   * stop receiving until they are handled, so the layer's own per-channel capacity bounds the
   * backlog, not this queue. Handled at once when nothing is queued before it (a group relay is
   * synchronous: no promise, no microtask hop), else after the earlier messages and tasks.
   */
  received(message: LayerMessage): Promise<void> | undefined {
    this.#pending++;
    const handled = (this.#queue ??= new SerialQueue()).runWith(handleQueued, this, message);
    return this.#pending >= this.maxPending ? handled : undefined;
  }

  /** A wait failed: the loop ends, and closes the connection unless it was stopped. */
  receiveFailed(error: unknown): void {
    try {
      if (!this.#abort.aborted && !(error instanceof ClosedError)) {
        getLogger().error(`${this.host.cls.name}: layer receive failed; closing`, { error });
        this.host.close(CloseCode.internalError, "Channel layer failure");
      }
    } finally {
      this.receiveEnded();
    }
  }

  /** The loop ended (stopped, or after {@linkcode LayerLoop.receiveFailed}). */
  receiveEnded(): void {
    this.#loop = "ended";
    this.#ended?.();
  }

  /**
   * Hands one layer message to the connection; `DONE` when that finished at once. For the loop's
   * queue only (through `handleQueued`): no closure is made unless the handling goes async.
   */
  handleQueued(message: LayerMessage): Promise<void> {
    let done: Promise<void> | void;
    try {
      done = this.host.layerMessage(message);
    } catch (error) {
      this.#pending--;
      throw error;
    }
    if (done === undefined || done === DONE) {
      this.#pending--;
      return DONE;
    }
    return done.finally(() => this.#pending--);
  }
}

/** The loop's queue task: a function of the module, so that no closure is made per message. */
function handleQueued(loop: LayerLoop, message: LayerMessage): Promise<void> {
  return loop.handleQueued(message);
}
