/**
 * One live connection: its lifecycle (open, idle and close timers, close, disconnect) and the
 * pipeline of what it receives, each step numbered in the code:
 *
 * socket frame → 1) limits → 2) decode → 3) envelope → 4) route (consumer or topic) →
 * 5) discriminate → 6) validate → 7) handler → 8) reply / broadcast → 9) completion
 *
 * Layer messages take the same steps from 4): layer → kind (group / event / topic / resync) →
 * discriminate → validate → event handler → reply → completion.
 *
 * Where each step lives: 1) `limits.ts`, 2)–3) `protocol/envelope.ts`, 4) here (topics:
 * `subscriptions.ts`), 5)–8) `dispatch.ts`, replies `outbox.ts`, broadcasts and the layer's side
 * `layer_loop.ts`, 9) here. `binding.ts` is what the consumer reaches this connection through.
 *
 * @module
 */
import { MESSAGE_ACTION_COMPLETE, TopicAction } from "../protocol/builtins.ts";
import { CloseCode } from "../protocol/close_codes.ts";
import { decodeFrame, type Envelope } from "../protocol/envelope.ts";
import { binaryRefused, rateLimited, tooManyPending } from "../protocol/error_frames.ts";
import type { AnyMessage } from "../protocol/message.ts";
import {
  type BroadcastOptions,
  type Consumer,
  CONSUMER_BINDING,
  type ConsumerClass,
} from "../consumer/consumer.ts";
import { type HandlerTable, handlerTable } from "../consumer/handlers.ts";
import { LayerUnavailableError } from "../errors.ts";
import type { LayerMessage } from "../layers/layer.ts";
import { getLogger } from "../logger.ts";
import type { ConnectionHandle, ServerSocket } from "../runtime/socket.ts";
import { presenceConnected, presenceDisconnected } from "../presence/connection_presence.ts";
import type { ConnectionObserver } from "../observe/hooks.ts";
import { ConnectionBinding } from "./binding.ts";
import type { KeptRequest } from "./kept_request.ts";
import { dispatchFrame, dispatchLayerMessage, frameFailed } from "./dispatch.ts";
import { LayerLoop } from "./layer_loop.ts";
import { PendingBudget, RateLimiter, type RateLimitSettings, textTooBig } from "./limits.ts";
import { Outbox } from "./outbox.ts";
import { DONE, SerialQueue, type Task, withFinally } from "./serial_queue.ts";
import { NO_SUBSCRIPTIONS, Subscriptions, type Target } from "./subscriptions.ts";
import { Recovery, type RecoveryHost, usesHistory } from "./recovery.ts";
import { ConnectionTimers, type TimedConnection } from "./timers.ts";

/** Settings the App passes to each connection. */
export interface ConnectionSettings {
  maxFrameBytes: number;
  idleTimeoutMs: number;
  maxBufferedBytes: number;
  slowClientPolicy: "close" | "drop";
  rateLimit: RateLimitSettings | undefined;
  /** Told of connections, frames and layer messages (metrics, the inspector). Default: none. */
  observer?: ConnectionObserver;
  /** How long a close may wait for the closing handshake before the socket is dropped (0: forever). */
  closeTimeoutMs: number;
  /** Most topic subscriptions one connection may hold. */
  maxSubscriptions: number;
  /** Most client frames waiting to be handled on one connection. */
  maxPendingFrames: number;
  /** Most frame text (UTF-16 code units) waiting to be handled on one connection. */
  maxPendingBytes: number;
  onClosed(connection: Connection): void;
}

/** The connection of one accepted upgrade. Created by the App. */
export class Connection implements ConnectionHandle, TimedConnection {
  readonly consumer: Consumer;
  readonly cls: ConsumerClass;
  readonly table: HandlerTable;
  readonly #socket: ServerSocket;
  readonly #settings: ConnectionSettings;
  readonly #params: Readonly<Record<string, string>>;
  readonly #frames = new SerialQueue();
  readonly #outbox: Outbox;
  readonly #layer: LayerLoop;
  // Made when first needed, so that idle connections keep none: the subscriptions at the first
  // subscribe, the pending budget at the first frame, the timers at once only with an idle timeout.
  #subscriptions: Subscriptions | undefined;
  #pending: PendingBudget | undefined;
  #timers: ConnectionTimers | undefined;
  readonly #rateLimit: RateLimiter | undefined;
  /** The history streams (consumers and topics with `static history` only). */
  readonly streams: Recovery | undefined;
  #state: "new" | "open" | "closing" | "closed" = "new";
  #disconnected: Promise<void> | undefined;
  #defaultTopic: string | undefined;
  #closeQueued = false;

  constructor(
    consumer: Consumer,
    request: KeptRequest,
    params: Readonly<Record<string, string>>,
    socket: ServerSocket,
    settings: ConnectionSettings,
  ) {
    this.consumer = consumer;
    const cls = this.cls = consumer.constructor as ConsumerClass;
    this.table = handlerTable(cls);
    this.#socket = socket;
    this.#settings = settings;
    this.#params = params;
    this.#outbox = new Outbox(socket, cls, settings, this);
    // The connection is its timers' host (an object literal with getters would be a dictionary).
    if (settings.idleTimeoutMs) this.#timers = new ConnectionTimers(this, settings);
    this.streams = usesHistory(cls)
      ? Recovery.for(cls, request.url, this.#recoveryHost())
      : undefined;
    this.#layer = new LayerLoop(this, this.#outbox, settings.maxPendingFrames, settings.observer);
    if (settings.rateLimit) this.#rateLimit = new RateLimiter(settings.rateLimit);
    // The request's url, method and headers as strings, not the Request: see kept_request.ts.
    consumer[CONSUMER_BINDING] = new ConnectionBinding(request, params, this);
  }

  /** What the history streams reach this connection through (classes with history only). */
  #recoveryHost(): RecoveryHost {
    return {
      consumer: this.consumer,
      layer: () => this.#layer.layer,
      write: (frame, envelope) => this.#outbox.write(frame, envelope),
      dispatch: (message, position) => this.#dispatchLayer(message, position),
      schedule: (task) => this.#layer.schedule(task),
      allStreams: (streams) =>
        this.consumer.groups.every((g) => streams.has(g)) &&
        this.subscriptions.every((t) => streams.has(this.#subscriptions!.get(t)!.group)),
      observe: (outcome) => this.#settings.observer?.recovery?.(outcome),
    };
  }

  /** The topic subscriptions, made at the first use that may add one. */
  #subs(): Subscriptions {
    return this.#subscriptions ??= new Subscriptions(
      this.consumer,
      this.cls,
      this.#outbox,
      this.#layer,
      this.#settings.maxSubscriptions,
      this.streams,
    );
  }

  /** This connection's layer channel name ("" until connected or without a layer). */
  get channelName(): string {
    return this.#layer.channelName;
  }

  /** The consumer class's name (the timers' log lines). */
  get name(): string {
    return this.cls.name;
  }

  /** True once the disconnect has begun. */
  get disconnected(): boolean {
    return this.#disconnected !== undefined;
  }

  /** Drops the socket without a closing handshake (the close timeout). */
  terminate(): void {
    this.#socket.terminate?.();
  }

  /** True once the connection is closing or closed. */
  get closing(): boolean {
    return this.#state === "closing" || this.#state === "closed";
  }

  /** Where the connection is in its life. */
  get state(): "new" | "open" | "closing" | "closed" {
    return this.#state;
  }

  /** True while the socket is open. */
  get isOpen(): boolean {
    return this.#state === "open";
  }

  /** Frames dropped for this slow client (droppable types only). */
  get droppedFrames(): number {
    return this.#outbox.droppedFrames;
  }

  /** Bytes the runtime has queued for the socket and not sent yet. */
  get bufferedBytes(): number {
    return this.#outbox.socket.bufferedAmount ?? 0;
  }

  /** Frames that could not be serialized (logged, counted, and answered with an error frame). */
  get unsendableFrames(): number {
    return this.#outbox.unsendableFrames;
  }

  /** The topics this connection is subscribed to. */
  get subscriptions(): string[] {
    return this.#subscriptions?.topics ?? [];
  }

  /** Resolves when every frame and event queued so far has been handled. */
  async idle(): Promise<void> {
    await this.#frames.idle;
    await this.#layer.idle;
  }

  // --- lifecycle -------------------------------------------------------------------------------

  opened(): Promise<void> {
    return this.#frames.push(async () => {
      if (this.#state !== "new") return;
      this.#state = "open";
      this.#settings.observer?.opened(this);
      this.streams?.opened();
      this.#timers?.armIdle();
      try {
        const starting = this.#layer.start();
        if (starting) await starting;
        const hook = this.consumer.postAuthentication(); // no await (no hop) for the default
        if (hook) await hook;
        const { presence } = this.cls; // opt-in presence (docs/presence.md)
        if (presence) {
          await presenceConnected(this.consumer, presence, this.consumer[CONSUMER_BINDING]!);
        }
        const standalone = this.cls.defaultTopic;
        if (standalone && this.#state === "open") {
          this.#defaultTopic = standalone.format(this.#params);
          await this.#subs().subscribe(this.#defaultTopic, {});
        }
      } catch (error) {
        if (error instanceof LayerUnavailableError) return this.#layer.unavailable(error);
        getLogger().error(`${this.cls.name}: connect failed`, { error });
        this.close(CloseCode.internalError, "Server error while connecting");
      }
    });
  }

  closed(code: number, _reason?: string): Promise<void> {
    if (this.#disconnected) return this.#disconnected;
    const observer = this.#state === "new" ? undefined : this.#settings.observer; // opened: told
    this.#state = "closed";
    this.#timers?.clear();
    this.#layer.cancelRetry();
    this.#disconnected = (async () => {
      try {
        await this.consumer.onDisconnect(code);
      } catch (error) {
        getLogger().error(`${this.cls.name}.onDisconnect failed`, { error });
      }
      const presence = presenceDisconnected(this.consumer); // undefined without presence
      if (presence) await presence;
      for (const topic of this.subscriptions) await this.#subscriptions!.end(topic);
      const layer = this.#layer;
      // Groups first: a group message that lands after the receive loop stopped would keep a
      // mailbox for the released channel until it expires.
      const leaving = layer.leaveGroups();
      if (leaving) await leaving;
      this.streams?.dispose(); // its groups' known positions (recovery.ts)
      layer.stopReceiving();
      await layer.receiving;
      observer?.closed(this, code);
      this.#settings.onClosed(this);
    })();
    return this.#disconnected;
  }

  close(code: number = CloseCode.normal, reason = ""): void {
    if (this.#state === "closing" || this.#state === "closed") return;
    this.#state = "closing";
    try {
      this.#socket.close(code, reason);
    } catch (error) {
      getLogger().warn("Closing the socket failed", { error });
      void this.closed(code, reason);
      return;
    }
    (this.#timers ??= new ConnectionTimers(this, this.#settings)).armClose();
  }

  // --- what the consumer reaches (through its binding) -----------------------------------------

  send(message: AnyMessage): Promise<void> {
    if (!message || typeof message !== "object" || typeof message.action !== "string") {
      return Promise.reject(new TypeError("sendMessage() takes a message {action, payload}"));
    }
    this.#outbox.write(message);
    return Promise.resolve();
  }

  broadcast(message: AnyMessage, options: BroadcastOptions): Promise<void> {
    return this.#layer.broadcast(message, options);
  }

  join(group: string): Promise<void> {
    return this.#layer.join(group);
  }

  /** Sends a frozen frame other sockets receive too (serialized once: presence diffs). */
  sendShared(message: AnyMessage): void {
    this.#outbox.write(message, undefined, true);
  }

  leave(group: string): Promise<void> {
    return this.#layer.leave(group);
  }

  // --- client frames ---------------------------------------------------------------------------

  /** A text frame from the socket: the pipeline starts here. */
  text(data: string): void {
    // 1) limits: rate, frame size, then the pending budget (#enqueue).
    if (!this.#admit()) return;
    const limit = this.cls.maxFrameBytes ?? this.#settings.maxFrameBytes;
    if (textTooBig(data, limit)) {
      getLogger().warn(`${this.cls.name}: frame over ${limit} bytes, closing with 1009`);
      this.close(CloseCode.tooBig, `Frame larger than ${limit} bytes`);
      return;
    }
    this.#enqueue(data.length, () => this.#handleFrame(data));
  }

  /** A binary frame from the socket: refused (the protocol is JSON text), within the limits. */
  binary(data: Uint8Array): void {
    if (!this.#admit()) return;
    const limit = this.cls.maxFrameBytes ?? this.#settings.maxFrameBytes;
    if (data.byteLength > limit) {
      this.close(CloseCode.tooBig, `Frame larger than ${limit} bytes`);
      return;
    }
    this.#enqueue(0, () => {
      this.#outbox.write(binaryRefused());
      this.#outbox.complete(MESSAGE_ACTION_COMPLETE);
    });
  }

  /** 1) limits: the rate limit; false when the frame must not be handled (nor a closed one). */
  #admit(): boolean {
    if (this.#closeQueued || (this.#state !== "open" && this.#state !== "new")) return false;
    this.#timers?.touch();
    const verdict = this.#rateLimit?.take() ?? "ok";
    if (verdict === "ok") return true;
    if (verdict === "close") {
      this.#closeQueued = true;
      getLogger().warn(`${this.cls.name}: closing a client that keeps exceeding its rate limit`);
      // Behind the frames already accepted, so their replies still go out.
      this.#frames.push(() => this.close(CloseCode.policyViolation, "Rate limit exceeded"));
      return false;
    }
    this.#enqueue(0, () => {
      this.#outbox.write(rateLimited(this.#settings.rateLimit!.perSecond));
      this.#outbox.complete(MESSAGE_ACTION_COMPLETE);
    });
    return false;
  }

  /**
   * 1) limits: queues a client frame's task behind the earlier ones, within `maxPendingFrames` and
   * `maxPendingBytes`. Over either limit (handlers or a layer stalled while the client keeps
   * sending) the frame is refused at once with a `too_many_pending` error frame, ahead of the
   * replies still queued, and the connection goes on.
   */
  #enqueue(size: number, task: Task): void {
    const pending = this.#pending ??= new PendingBudget(this.#settings);
    if (!pending.take(size)) {
      getLogger().debug(`${this.cls.name}: refused a frame, ${pending.frames} still pending`);
      this.#outbox.write(tooManyPending(pending.maxFrames, pending.maxBytes));
      this.#outbox.complete(MESSAGE_ACTION_COMPLETE);
      return;
    }
    // At once when no frame is queued before it; a frame handled synchronously takes no hop.
    void this.#frames.run(() => withFinally(task, () => pending.release(size)));
  }

  /**
   * Handles one queued frame and 9) sends its completion, whatever happened. {@linkcode DONE}
   * when it was all synchronous.
   */
  #handleFrame(data: string): Promise<void> {
    if (this.#state !== "open") return DONE;
    const envelope: Envelope = {};
    let routed: Promise<void>;
    try {
      routed = this.#route(data, envelope);
    } catch (error) {
      frameFailed(this.#outbox, error, envelope);
      routed = DONE;
    }
    if (routed === DONE) {
      this.#outbox.complete(MESSAGE_ACTION_COMPLETE, envelope);
      return DONE;
    }
    return routed.then(
      () => this.#outbox.complete(MESSAGE_ACTION_COMPLETE, envelope),
      (error) => {
        frameFailed(this.#outbox, error, envelope);
        this.#outbox.complete(MESSAGE_ACTION_COMPLETE, envelope);
      },
    );
  }

  /** Parses and routes one frame; fills `envelope` with the topic/ref its replies must carry. */
  #route(data: string, envelope: Envelope): Promise<void> {
    // 2) decode (a JSON object) and 3) envelope (version, topic, ref).
    const decoded = decodeFrame(data, envelope, this.cls.maxJsonDepth);
    if (!decoded.ok) {
      this.#outbox.write(decoded.error, envelope);
      return DONE;
    }
    const frame = decoded.frame;
    // 4) route: a topic frame (its own `topic`, or the standalone topic) or the consumer's.
    const topic = (frame.topic as string | undefined) ?? this.#defaultTopic;
    if (topic === undefined) return dispatchFrame(this.#outbox, this.#target(), frame, envelope);
    envelope.topic = topic;
    return this.#routeTopic(frame, topic, envelope);
  }

  /** 4) route, topic frames: subscribe, unsubscribe, or a subscription's handler. */
  async #routeTopic(frame: Record<string, unknown>, topic: string, envelope: Envelope) {
    const subscriptions = this.#subs();
    if (frame.action === TopicAction.subscribe) {
      return await subscriptions.subscribe(topic, envelope);
    }
    if (frame.action === TopicAction.unsubscribe) {
      await subscriptions.end(topic);
      this.#outbox.write({ action: TopicAction.unsubscribed, payload: null }, envelope);
      return;
    }
    const sub = subscriptions.require(topic, envelope);
    if (sub) await dispatchFrame(this.#outbox, sub, frame, envelope);
  }

  // --- layer messages --------------------------------------------------------------------------

  /**
   * Handles one layer message, off the layer loop's queue (the loop calls it): 4) routed by kind,
   * then 5)–8) in dispatch.ts.
   */
  layerMessage(message: LayerMessage): Promise<void> {
    if (this.#state !== "open") return DONE;
    if (this.streams) return this.streams.accept(message); // history streams: recovery.ts
    return this.#dispatchLayer(message);
  }

  #dispatchLayer(message: LayerMessage, position?: Envelope["position"]): Promise<void> {
    const { channelName } = this.#layer;
    const subs = this.#subscriptions ?? NO_SUBSCRIPTIONS;
    return dispatchLayerMessage(this.#outbox, this.#target(), subs, channelName, message, position);
  }

  /** The consumer as a dispatch target (made per use: idle connections hold no extra object). */
  #target(): Target {
    return { instance: this.consumer, table: this.table, name: this.cls.name };
  }
}
