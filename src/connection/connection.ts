/**
 * One live connection: the frame pipeline (decode, validate, dispatch, reply, complete), the
 * layer receive loop (broadcasts and events) and the lifecycle.
 *
 * @module
 */
import { DirectAbortController } from "../abort.ts";
import { camelize, convertKeys, decamelize } from "../protocol/case.ts";
import { COMPLETE_ACTIONS, type ErrorItem } from "../protocol/builtins.ts";
import {
  type BroadcastOptions,
  type Consumer,
  type ConsumerClass,
  type ConsumerRuntime,
  RUNTIME,
} from "../consumer/consumer.ts";
import { ClosedError, LayerUnavailableError } from "../errors.ts";
import {
  checkReply,
  type HandlerInfo,
  type HandlerTable,
  handlerTable,
} from "../consumer/handlers.ts";
import type { ChannelLayer, JsonValue, LayerMessage } from "../layers/layer.ts";
import { getLogger } from "../logger.ts";
import { type AnyMessage, isDroppable } from "../protocol/message.ts";
import { assertGroupName } from "../layers/names.ts";
import { EVENT_TYPE, GROUP_TYPE, RESYNC_MESSAGE_TYPE, TOPIC_TYPE } from "../layers/messages.ts";
import {
  type Envelope,
  ENVELOPE_VERSION,
  MAX_REF_LENGTH,
  MAX_TOPIC_LENGTH,
  type Topic,
  TOPIC_RUNTIME,
  type TopicClass,
} from "../consumer/topic.ts";
import { describeInput, truncateForEcho } from "../protocol/truncate.ts";
import type { ConnectionHandle, ServerSocket } from "../runtime/socket.ts";
import { validatePayload } from "../protocol/validation.ts";

/** WebSocket close codes the core uses. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  /** Reported to `onDisconnect` when the socket ended without a closing handshake. */
  abnormal: 1006,
  tooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
} as const;

/** Settings the App passes to each connection. */
export interface ConnectionSettings {
  maxFrameBytes: number;
  idleTimeoutMs: number;
  maxBufferedBytes: number;
  slowClientPolicy: "close" | "drop";
  rateLimit: { perSecond: number; burst?: number; maxViolations?: number } | undefined;
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

/** A token bucket: `burst` tokens, refilled at `perSecond`. */
class TokenBucket {
  #tokens: number;
  #last = Date.now();
  constructor(readonly perSecond: number, readonly burst: number) {
    this.#tokens = burst;
  }
  take(): boolean {
    const now = Date.now();
    this.#tokens = Math.min(
      this.burst,
      this.#tokens + ((now - this.#last) / 1000) * this.perSecond,
    );
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

type Task = () => Promise<void> | void;

/** A serial task queue: tasks run one after another; a failing task never stops the queue. */
class SerialQueue {
  #tail: Promise<void> = Promise.resolve();
  push(task: Task): Promise<void> {
    const run = this.#tail.then(task).catch((error) => {
      getLogger().error("Unhandled error in connection task", { error });
    });
    this.#tail = run;
    return run;
  }
  get idle(): Promise<void> {
    return this.#tail;
  }
}

const encoder = new TextEncoder();
function byteLength(text: string, limit: number): number {
  // A UTF-16 code unit encodes to at most 3 bytes: skip encoding when the frame is surely small,
  // and to at least 1: skip it (and its copy of a frame that may be 64 MiB) when surely too big.
  if (text.length * 3 <= limit || text.length > limit) return text.length;
  return encoder.encode(text).byteLength;
}

/**
 * Wire text of group messages, computed once per message and camelCase mode: a layer hands every
 * local member the same deep-frozen copy, so a fan-out to N sockets serializes once, not N times.
 */
const sharedText = new WeakMap<object, { plain?: string; camel?: string }>();

function errorFrame(payload: ErrorItem[] | { detail: string; reason?: string }): AnyMessage {
  return { action: "error", payload };
}

interface Subscription {
  readonly cls: TopicClass;
  readonly instance: Topic;
  readonly table: HandlerTable;
  readonly group: string;
}

type Target = { readonly instance: object; readonly table: HandlerTable; readonly name: string };

/**
 * What a consumer reaches its connection through. A class rather than an object literal with
 * getters and arrow functions: V8 keeps such literals in dictionary mode, and every idle
 * connection holds one.
 */
class Runtime implements ConsumerRuntime {
  constructor(
    readonly connection: Connection,
    readonly request: Request,
    readonly params: Readonly<Record<string, string>>,
  ) {}
  get channelName(): string {
    return this.connection.channelName;
  }
  get closed(): boolean {
    return this.connection.closing;
  }
  send(message: AnyMessage): Promise<void> {
    return this.connection.send(message);
  }
  broadcast(message: AnyMessage, options: BroadcastOptions): Promise<void> {
    return this.connection.broadcast(message, options);
  }
  join(group: string): Promise<void> {
    return this.connection.join(group);
  }
  leave(group: string): Promise<void> {
    return this.connection.leave(group);
  }
  close(code?: number, reason?: string): void {
    this.connection.close(code, reason);
  }
}

/** The runtime of one connection. Created by the App for an accepted upgrade. */
export class Connection implements ConnectionHandle {
  readonly consumer: Consumer;
  readonly cls: ConsumerClass;
  readonly table: HandlerTable;
  readonly #socket: ServerSocket;
  readonly #settings: ConnectionSettings;
  readonly #request: Request;
  readonly #params: Readonly<Record<string, string>>;
  readonly #frames = new SerialQueue();
  readonly #events = new SerialQueue();
  readonly #abort = new DirectAbortController();
  #layer: ChannelLayer | undefined;
  #channelName = "";
  #state: "new" | "open" | "closing" | "closed" = "new";
  #disconnected: Promise<void> | undefined;
  #receiveLoop: Promise<void> | undefined;
  readonly #subscriptions = new Map<string, Subscription>();
  #defaultTopic: string | undefined;
  readonly #bucket: TokenBucket | undefined;
  #violations: number[] = [];
  #lastActivity = Date.now();
  #closeQueued = false;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #pendingFrames = 0;
  #pendingBytes = 0;
  #pendingEvents = 0;
  /** Groups to join once the layer is reachable again (joins that failed while it was not). */
  readonly #pendingGroups = new Set<string>();
  #layerRetry: { timer?: ReturnType<typeof setTimeout>; delayMs: number } | undefined;
  /** Frames dropped for this slow client (droppable types only). */
  droppedFrames = 0;

  constructor(
    consumer: Consumer,
    request: Request,
    params: Readonly<Record<string, string>>,
    socket: ServerSocket,
    settings: ConnectionSettings,
  ) {
    this.consumer = consumer;
    this.cls = consumer.constructor as ConsumerClass;
    this.table = handlerTable(this.cls);
    this.#socket = socket;
    this.#settings = settings;
    this.#request = request;
    this.#params = params;
    const rl = settings.rateLimit;
    if (rl) this.#bucket = new TokenBucket(rl.perSecond, rl.burst ?? Math.max(1, rl.perSecond));
    consumer[RUNTIME] = new Runtime(this, request, params);
  }

  /** This connection's layer channel name ("" until connected or without a layer). */
  get channelName(): string {
    return this.#channelName;
  }

  /** True once the connection is closing or closed. */
  get closing(): boolean {
    return this.#state === "closing" || this.#state === "closed";
  }

  /** True while the socket is open. */
  get isOpen(): boolean {
    return this.#state === "open";
  }

  // ---- lifecycle --------------------------------------------------------------------------

  opened(): Promise<void> {
    return this.#frames.push(async () => {
      if (this.#state !== "new") return;
      this.#state = "open";
      this.#armIdleTimer();
      try {
        if (this.cls.layer !== null) {
          this.#layer = this.cls.getLayer();
          const initial = [...new Set([...this.cls.defaultGroups(), ...this.consumer.groups])];
          this.consumer.groups = [];
          for (const g of initial) this.#pendingGroups.add(g);
          await this.#attachLayer().catch((error) => this.#layerUnavailable(error));
        }
        await this.consumer.postAuthentication();
        const standalone = this.cls.defaultTopic;
        if (standalone && this.#state === "open") {
          this.#defaultTopic = standalone.format(this.#params);
          await this.#subscribe(this.#defaultTopic, {});
        }
      } catch (error) {
        if (error instanceof LayerUnavailableError) return this.#layerUnavailable(error);
        getLogger().error(`${this.cls.name}: connect failed`, { error });
        this.close(CloseCode.internalError, "Server error while connecting");
      }
    });
  }

  /** Gets a layer channel (once) and joins the pending groups; throws while the layer is away. */
  async #attachLayer(): Promise<void> {
    const layer = this.#layer!;
    if (!this.#channelName) {
      const name = await layer.newChannel(this.cls.name || "consumer");
      if (this.#state !== "open") return;
      this.#channelName = name;
      this.#receiveLoop = this.#runReceiveLoop(layer);
    }
    for (const g of [...this.#pendingGroups]) {
      if (this.#state === "open") await this.join(g);
    }
  }

  /**
   * The layer is unreachable: the connection stays open (frames that need no layer are still
   * answered), the client gets an error frame, and joining is retried with backoff.
   */
  #layerUnavailable(error: unknown): void {
    if (!(error instanceof LayerUnavailableError)) throw error;
    if (this.#state !== "open") return;
    getLogger().warn(`${this.cls.name}: channel layer unavailable; retrying`, { error });
    if (!this.#layerRetry) {
      this.#write(errorFrame({ reason: "layer_unavailable", detail: error.message }));
    }
    const retry = this.#layerRetry ??= { delayMs: 250 };
    if (retry.timer !== undefined) return;
    retry.timer = setTimeout(() => {
      retry.timer = undefined;
      retry.delayMs = Math.min(retry.delayMs * 2, 10_000);
      if (this.#state !== "open") return;
      // Outside the frame queue: frames are not held while the layer is tried again.
      this.#attachLayer().then(() => this.#layerRetry = undefined, (e) => {
        if (e instanceof LayerUnavailableError) this.#layerUnavailable(e);
        else getLogger().error(`${this.cls.name}: joining the layer failed`, { error: e });
      });
    }, retry.delayMs);
  }

  closed(code: number, _reason?: string): Promise<void> {
    if (this.#disconnected) return this.#disconnected;
    this.#state = "closed";
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#layerRetry?.timer);
    this.#disconnected = (async () => {
      try {
        await this.consumer.onDisconnect(code);
      } catch (error) {
        getLogger().error(`${this.cls.name}.onDisconnect failed`, { error });
      }
      for (const topic of [...this.#subscriptions.keys()]) await this.#endSubscription(topic);
      this.#abort.abort(new ClosedError("connection closed"));
      const layer = this.#layer;
      if (layer) {
        await Promise.all(
          this.consumer.groups.map((g) =>
            layer.groupDiscard(g, this.#channelName).catch((error) =>
              getLogger().warn(`Could not leave group ${g}`, { error })
            )
          ),
        );
      }
      await this.#receiveLoop;
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
    this.#armCloseTimer();
  }

  /**
   * A close ends in a released socket within `closeTimeoutMs`: a peer that stopped reading never
   * answers the closing handshake (its close frame waits behind everything queued for it), so the
   * socket is then dropped and `onDisconnect` runs with 1006.
   */
  #armCloseTimer(): void {
    const grace = this.#settings.closeTimeoutMs;
    if (!grace || this.#disconnected) return;
    this.#closeTimer = setTimeout(() => {
      if (this.#disconnected) return;
      getLogger().warn(
        `${this.cls.name}: the client did not complete the close within ${grace} ms; dropping it`,
      );
      try {
        this.#socket.terminate?.();
      } catch (error) {
        getLogger().warn("Dropping the socket failed", { error });
      }
      void this.closed(CloseCode.abnormal, "Close timed out");
    }, grace);
  }

  #armIdleTimer(): void {
    const idle = this.#settings.idleTimeoutMs;
    if (!idle) return;
    const left = this.#lastActivity + idle - Date.now();
    this.#idleTimer = setTimeout(() => {
      if (this.#state !== "open") return;
      if (Date.now() - this.#lastActivity >= idle) {
        getLogger().info(`${this.cls.name}: closing a connection idle for ${idle} ms`);
        this.close(CloseCode.goingAway, "Idle timeout");
      } else {
        this.#armIdleTimer();
      }
    }, Math.max(0, left));
  }

  /** Applies the rate limit to an incoming frame; false when it must not be handled. */
  #admit(): boolean {
    if (this.#closeQueued) return false;
    this.#lastActivity = Date.now();
    if (!this.#bucket || this.#bucket.take()) return true;
    const rl = this.#settings.rateLimit!;
    const now = Date.now();
    this.#violations = this.#violations.filter((t) => now - t < 10_000);
    this.#violations.push(now);
    if (this.#violations.length >= (rl.maxViolations ?? 20)) {
      if (!this.#closeQueued) {
        this.#closeQueued = true;
        getLogger().warn(`${this.cls.name}: closing a client that keeps exceeding its rate limit`);
        // Behind the frames already accepted, so their replies still go out.
        this.#frames.push(() => this.close(CloseCode.policyViolation, "Rate limit exceeded"));
      }
      return false;
    }
    this.#enqueue(0, () => {
      this.#write(errorFrame([{
        type: "rate_limited",
        loc: [],
        msg: `Too many messages: the limit is ${rl.perSecond} per second`,
      }]));
      this.#complete("complete");
    });
    return false;
  }

  /**
   * Queues a client frame's task behind the earlier ones, within `maxPendingFrames` and
   * `maxPendingBytes`. Over either limit (handlers or a layer stalled while the client keeps
   * sending) the frame is refused at once with a `too_many_pending` error frame, ahead of the
   * replies still queued, and the connection goes on.
   */
  #enqueue(size: number, task: Task): void {
    const s = this.#settings;
    if (
      this.#pendingFrames >= s.maxPendingFrames || this.#pendingBytes + size > s.maxPendingBytes
    ) {
      getLogger().debug(`${this.cls.name}: refused a frame, ${this.#pendingFrames} still pending`);
      this.#write(errorFrame([{
        type: "too_many_pending",
        loc: [],
        msg: `Too many messages waiting to be handled: the limit is ${s.maxPendingFrames} ` +
          `messages and ${s.maxPendingBytes} bytes per connection`,
      }]));
      this.#complete("complete");
      return;
    }
    this.#pendingFrames++;
    this.#pendingBytes += size;
    void this.#frames.push(async () => {
      try {
        await task();
      } finally {
        this.#pendingFrames--;
        this.#pendingBytes -= size;
      }
    });
  }

  /** Resolves when every frame and event queued so far has been handled. */
  async idle(): Promise<void> {
    await this.#frames.idle;
    await this.#events.idle;
  }

  // ---- sending ----------------------------------------------------------------------------

  /** The JSON text of a frame, with envelope keys after `action` and `payload`. */
  #serialize(frame: AnyMessage, envelope?: Envelope): string {
    const body: Record<string, unknown> = {
      action: frame.action,
      payload: this.cls.camelCase
        ? convertKeys(frame.payload ?? null, camelize)
        : frame.payload === undefined
        ? null
        : frame.payload,
    };
    if (envelope) {
      if (envelope.topic !== undefined) {
        body.version = ENVELOPE_VERSION;
        body.topic = envelope.topic;
      }
      if (envelope.ref !== undefined) body.ref = envelope.ref;
      if (envelope.seq !== undefined) body.seq = envelope.seq;
    }
    return JSON.stringify(body);
  }

  /**
   * Sends one frame. `shared`: the frame is a deep-frozen layer message that other members
   * receive too, so its text is cached on it.
   */
  #write(frame: AnyMessage, envelope?: Envelope, shared = false): void {
    if (this.#state !== "open") {
      getLogger().debug(`${this.cls.name}: dropped '${frame.action}' to a closed connection`);
      return;
    }
    const buffered = this.#socket.bufferedAmount ?? 0;
    const limit = this.#settings.maxBufferedBytes;
    if (buffered > limit) {
      if (
        this.#settings.slowClientPolicy === "drop" && buffered <= 4 * limit &&
        isDroppable(frame.action)
      ) {
        this.droppedFrames++;
        getLogger().debug(`${this.cls.name}: dropped '${frame.action}' for a slow client`);
        return;
      }
      if (this.#settings.slowClientPolicy === "close" || buffered > 4 * limit) {
        getLogger().warn(`${this.cls.name}: closing a slow client (${buffered} bytes queued)`);
        this.close(CloseCode.tryAgainLater, "Client too slow");
        return;
      }
    }
    if (this.cls.logMessages && !COMPLETE_ACTIONS.has(frame.action)) {
      getLogger().debug("Websocket sent", { consumer: this.cls.name, action: frame.action });
    }
    let text: string;
    if (shared && !envelope && Object.isFrozen(frame)) {
      let cached = sharedText.get(frame);
      if (!cached) sharedText.set(frame, cached = {});
      text = this.cls.camelCase
        ? (cached.camel ??= this.#serialize(frame))
        : (cached.plain ??= this.#serialize(frame));
    } else {
      text = this.#serialize(frame, envelope);
    }
    try {
      this.#socket.send(text);
    } catch (error) {
      getLogger().warn(`${this.cls.name}: send failed`, { error });
    }
  }

  send(message: AnyMessage): Promise<void> {
    if (!message || typeof message !== "object" || typeof message.action !== "string") {
      return Promise.reject(new TypeError("sendMessage() takes a message {action, payload}"));
    }
    this.#write(message);
    return Promise.resolve();
  }

  #complete(action: string, envelope?: Envelope): void {
    if (this.cls.sendCompletion) this.#write({ action, payload: null }, envelope);
  }

  #requireLayer(what: string): ChannelLayer {
    if (!this.#layer) throw new ClosedError(`${what}: ${this.cls.name} has no channel layer`);
    return this.#layer;
  }

  async broadcast(message: AnyMessage, options: BroadcastOptions): Promise<void> {
    const layer = this.#requireLayer("broadcastMessage");
    const groups = options.groups === undefined
      ? this.consumer.groups
      : typeof options.groups === "string"
      ? [options.groups]
      : options.groups;
    const payload: LayerMessage = {
      type: GROUP_TYPE,
      message: { action: message.action, payload: (message.payload ?? null) as JsonValue },
    };
    if (options.excludeCurrent) payload.exclude = this.#channelName;
    for (const g of groups) assertGroupName(g);
    await Promise.all(groups.map((g) => layer.groupSend(g, payload)));
  }

  async join(group: string): Promise<void> {
    assertGroupName(group);
    const layer = this.#requireLayer("joinGroup");
    if (!this.#channelName) {
      this.#pendingGroups.add(group); // joined once the layer is back
      throw new LayerUnavailableError(`joinGroup: the channel layer is unavailable`);
    }
    await layer.groupAdd(group, this.#channelName);
    this.#pendingGroups.delete(group);
    if (this.#state === "closed") { // a retried join that finished after the disconnect
      return void await layer.groupDiscard(group, this.#channelName).catch(() => {});
    }
    if (!this.consumer.groups.includes(group)) this.consumer.groups.push(group);
  }

  async leave(group: string): Promise<void> {
    assertGroupName(group);
    const layer = this.#requireLayer("leaveGroup");
    await layer.groupDiscard(group, this.#channelName);
    this.consumer.groups = this.consumer.groups.filter((g) => g !== group);
  }

  // ---- client frames ----------------------------------------------------------------------

  text(data: string): void {
    if (this.#state !== "open" && this.#state !== "new") return;
    if (!this.#admit()) return;
    const limit = this.cls.maxFrameBytes ?? this.#settings.maxFrameBytes;
    if (byteLength(data, limit) > limit) {
      getLogger().warn(`${this.cls.name}: frame over ${limit} bytes, closing with 1009`);
      this.close(CloseCode.tooBig, `Frame larger than ${limit} bytes`);
      return;
    }
    this.#enqueue(data.length, () => this.#handleFrame(data));
  }

  binary(data: Uint8Array): void {
    if (this.#state !== "open" && this.#state !== "new") return;
    if (!this.#admit()) return;
    const limit = this.cls.maxFrameBytes ?? this.#settings.maxFrameBytes;
    if (data.byteLength > limit) {
      this.close(CloseCode.tooBig, `Frame larger than ${limit} bytes`);
      return;
    }
    this.#enqueue(0, () => {
      this.#write(errorFrame([{
        type: "frame_type",
        loc: [],
        msg: "Binary frames are not supported: send JSON text frames",
      }]));
      this.#complete("complete");
    });
  }

  async #handleFrame(data: string): Promise<void> {
    if (this.#state !== "open") return;
    const envelope: Envelope = {};
    try {
      await this.#dispatchFrame(data, envelope);
    } catch (error) {
      if (error instanceof LayerUnavailableError) {
        this.#write(errorFrame({ reason: "layer_unavailable", detail: error.message }), envelope);
      } else {
        getLogger().error(`${this.cls.name}: failed to process message`, { error });
        this.#write(errorFrame({ detail: "Failed to process message" }), envelope);
      }
    }
    this.#complete("complete", envelope);
  }

  /** Parses and routes one frame; fills `envelope` with the topic/ref its replies must carry. */
  async #dispatchFrame(data: string, envelope: Envelope): Promise<void> {
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch (error) {
      this.#write(errorFrame([{
        type: "json_invalid",
        loc: [],
        msg: `Invalid JSON: ${truncateForEcho(String((error as Error).message))}`,
      }]));
      return;
    }
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      this.#write(errorFrame([{
        type: "model_type",
        loc: [],
        msg: "Input should be a JSON object with 'action' and 'payload'",
      }]));
      return;
    }
    const frame = raw as Record<string, unknown>;
    const bad = envelopeErrors(frame);
    if (bad.length) {
      // A valid ref still ties the error (and its completion) to the request.
      if (typeof frame.ref === "string" && frame.ref.length <= MAX_REF_LENGTH) {
        envelope.ref = frame.ref;
      }
      this.#write(errorFrame(bad), envelope);
      return;
    }
    if (typeof frame.ref === "string") envelope.ref = frame.ref;
    const topic = (frame.topic as string | undefined) ?? this.#defaultTopic;
    if (topic !== undefined) {
      envelope.topic = topic;
      await this.#dispatchTopicFrame(frame, topic, envelope);
      return;
    }
    await this.#dispatchTo(
      { instance: this.consumer, table: this.table, name: this.cls.name },
      frame,
      envelope,
    );
  }

  /** Validates and runs a client frame on the consumer itself or on a topic subscription. */
  async #dispatchTo(target: Target, frame: Record<string, unknown>, envelope: Envelope) {
    const action = frame.action;
    if (action === undefined || action === null) {
      this.#write(
        errorFrame([{
          type: "union_tag_not_found",
          loc: [],
          msg: "Unable to extract tag using discriminator 'action'",
        }]),
        envelope,
      );
      return;
    }
    const handler = typeof action === "string" ? target.table.ws.get(action) : undefined;
    if (!handler) {
      this.#write(
        errorFrame([{
          type: "union_tag_invalid",
          loc: [],
          msg: `Input tag '${
            describeInput(action)
          }' found using 'action' does not match any of the expected tags: ${
            target.table.expected || "(none)"
          }`,
        }]),
        envelope,
      );
      return;
    }
    if (this.cls.logMessages) {
      getLogger().debug("Websocket received", { consumer: target.name, action: handler.action });
    }
    const payload = this.cls.camelCase ? convertKeys(frame.payload, decamelize) : frame.payload;
    const checked = await validatePayload(handler.input, payload, "payload" in frame);
    if (!checked.ok) {
      this.#write(errorFrame(checked.errors), envelope);
      return;
    }
    let result: unknown;
    try {
      result = await call(target.instance, handler, {
        action: handler.action,
        payload: checked.value,
      });
    } catch (error) {
      if (error instanceof LayerUnavailableError) {
        getLogger().warn(`${handler.action}: channel layer unavailable`, { error });
        this.#write(errorFrame({ reason: "layer_unavailable", detail: error.message }), envelope);
        return;
      }
      getLogger().error(`Handler error for action '${handler.action}'`, {
        consumer: target.name,
        error,
      });
      this.#write(
        errorFrame({ detail: `Failed to process message for ${handler.action}` }),
        envelope,
      );
      return;
    }
    if (result !== undefined && result !== null) {
      await this.#writeResult(result, envelope, handler, target, true);
    }
  }

  /**
   * Sends a handler's return value once {@linkcode checkReply} accepts it. A refused reply is
   * logged and not sent; the client of a message handler gets an `invalid_reply` error frame.
   */
  async #writeResult(
    result: unknown,
    envelope: Envelope,
    handler: HandlerInfo,
    target: Target,
    answersClient: boolean,
  ): Promise<void> {
    const checked = await checkReply(handler, result);
    if (checked.ok) return this.#write(checked.message, envelope);
    getLogger().error(`${target.name}.${handler.method}() ${checked.problem}; nothing was sent`, {
      consumer: target.name,
      action: handler.action,
      result,
    });
    if (answersClient) {
      this.#write(
        errorFrame({
          reason: "invalid_reply",
          detail: `The server's handler for '${handler.action}' gave an invalid reply`,
        }),
        envelope,
      );
    }
  }

  // ---- topics -----------------------------------------------------------------------------

  #topicError(reason: string, detail: string, envelope: Envelope): void {
    getLogger().warn("Topic error", {
      consumer: this.cls.name,
      reason,
      topic: envelope.topic === undefined ? undefined : truncateForEcho(envelope.topic),
    });
    this.#write(errorFrame({ reason, detail }), envelope);
  }

  async #dispatchTopicFrame(frame: Record<string, unknown>, topic: string, envelope: Envelope) {
    if (frame.action === "subscribe") return await this.#subscribe(topic, envelope);
    if (frame.action === "unsubscribe") {
      await this.#endSubscription(topic);
      this.#write({ action: "unsubscribed", payload: null }, envelope);
      return;
    }
    const sub = this.#subscriptions.get(topic);
    if (!sub) {
      return this.#topicError(
        "not_subscribed",
        `Not subscribed to '${truncateForEcho(topic)}'`,
        envelope,
      );
    }
    await this.#dispatchTo(
      { instance: sub.instance, table: sub.table, name: sub.cls.name },
      frame,
      envelope,
    );
  }

  async #subscribe(topic: string, envelope: Envelope): Promise<void> {
    const replyEnvelope = { ...envelope, topic };
    if (this.#subscriptions.has(topic)) {
      this.#write({ action: "subscribed", payload: null }, replyEnvelope);
      return;
    }
    const max = this.#settings.maxSubscriptions;
    if (this.#subscriptions.size >= max) {
      return this.#topicError(
        "too_many_subscriptions",
        `Too many subscriptions: the limit is ${max} per connection; unsubscribe first`,
        replyEnvelope,
      );
    }
    let cls: TopicClass | undefined;
    let params: Record<string, string> | undefined;
    for (const t of this.cls.topics) {
      params = t.parse(topic);
      if (params) {
        cls = t;
        break;
      }
    }
    if (!cls || !params) {
      return this.#topicError(
        "unknown_topic",
        `Unknown topic '${truncateForEcho(topic)}'`,
        replyEnvelope,
      );
    }
    const instance = new cls();
    instance.topic = topic;
    instance.params = Object.freeze(params);
    instance[TOPIC_RUNTIME] = {
      consumer: this.consumer,
      send: (message, env) => this.#write(message, env),
    };
    let allowed = false;
    try {
      allowed = Boolean(await instance.authorize(instance.params));
    } catch (error) {
      getLogger().error(`${cls.name}.authorize failed`, { error, topic: truncateForEcho(topic) });
    }
    if (!allowed) {
      return this.#topicError(
        "unauthorized",
        `Not allowed to subscribe to '${truncateForEcho(topic)}'`,
        replyEnvelope,
      );
    }
    const group = cls.groupName(topic);
    await this.#requireLayer("subscribe").groupAdd(group, this.#channelName);
    this.#subscriptions.set(topic, { cls, instance, table: handlerTable(cls), group });
    this.#write({ action: "subscribed", payload: null }, replyEnvelope);
    try {
      await instance.onSubscribe();
    } catch (error) {
      getLogger().error(`${cls.name}.onSubscribe failed`, { error, topic: truncateForEcho(topic) });
    }
  }

  /** Ends a subscription (onUnsubscribe exactly once, then leave its group). No-op if absent. */
  async #endSubscription(topic: string): Promise<void> {
    const sub = this.#subscriptions.get(topic);
    if (!sub) return;
    this.#subscriptions.delete(topic);
    try {
      await sub.instance.onUnsubscribe();
    } catch (error) {
      getLogger().error(`${sub.cls.name}.onUnsubscribe failed`, {
        error,
        topic: truncateForEcho(topic),
      });
    }
    await this.#layer?.groupDiscard(sub.group, this.#channelName).catch((error) =>
      getLogger().warn(`Could not leave group ${sub.group}`, { error })
    );
  }

  /** The topics this connection is subscribed to. */
  get subscriptions(): string[] {
    return [...this.#subscriptions.keys()];
  }

  // ---- layer messages ---------------------------------------------------------------------

  async #runReceiveLoop(layer: ChannelLayer): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let message: LayerMessage;
      try {
        message = await layer.receive(this.#channelName, { signal });
      } catch (error) {
        if (!signal.aborted && !(error instanceof ClosedError)) {
          getLogger().error(`${this.cls.name}: layer receive failed; closing`, { error });
          this.close(CloseCode.internalError, "Channel layer failure");
        }
        return;
      }
      // Backpressure: past maxPendingFrames queued layer messages, stop receiving until they are
      // handled, so the layer's own per-channel capacity bounds the backlog, not this queue.
      this.#pendingEvents++;
      const handled = this.#events.push(async () => {
        try {
          await this.#handleLayerMessage(message);
        } finally {
          this.#pendingEvents--;
        }
      });
      if (this.#pendingEvents >= this.#settings.maxPendingFrames) await handled;
    }
  }

  async #handleLayerMessage(message: LayerMessage): Promise<void> {
    if (this.#state !== "open") return;
    switch (message.type) {
      case GROUP_TYPE: {
        if (message.exclude === this.#channelName) return;
        this.#write(message.message as unknown as AnyMessage, undefined, true);
        this.#complete("group_complete");
        return;
      }
      case EVENT_TYPE:
        try {
          await this.#handleEvent(
            { instance: this.consumer, table: this.table, name: this.cls.name },
            message.event as unknown as AnyMessage,
            undefined,
          );
        } finally {
          this.#complete("event_complete");
        }
        return;
      case TOPIC_TYPE: {
        const topic = String(message.topic);
        const sub = this.#subscriptions.get(topic);
        if (!sub) return; // unsubscribed meanwhile
        const envelope: Envelope = { topic };
        if (typeof message.seq === "number") envelope.seq = message.seq;
        try {
          await this.#handleEvent(
            { instance: sub.instance, table: sub.table, name: sub.cls.name },
            message.event as unknown as AnyMessage,
            envelope,
          );
        } finally {
          this.#complete("event_complete", envelope);
        }
        return;
      }
      case RESYNC_MESSAGE_TYPE:
        try {
          await this.consumer.onResync(String(message.reason ?? "layer reconnected"));
        } catch (error) {
          getLogger().error(`${this.cls.name}.onResync failed`, { error });
        }
        return;
      default:
        getLogger().warn(
          `${this.cls.name}: ignored layer message of unknown type '${message.type}'`,
        );
    }
  }

  async #handleEvent(target: Target, event: AnyMessage, envelope: Envelope | undefined) {
    const action = event?.action;
    const handler = typeof action === "string" ? target.table.events.get(action) : undefined;
    if (!handler) {
      getLogger().error(
        `${target.name}: no event handler for action '${describeInput(action)}' (handled: ${
          [...target.table.events.keys()].join(", ") || "none"
        })`,
      );
      return;
    }
    const checked = await validatePayload(handler.input, event.payload, true);
    if (!checked.ok) {
      getLogger().error(`${target.name}: event validation failed for action '${handler.action}'`, {
        errors: checked.errors,
      });
      return;
    }
    const message = { action: handler.action, payload: checked.value };
    if (handler.passthrough) {
      this.#write(message, envelope);
      return;
    }
    let result: unknown;
    try {
      result = await call(target.instance, handler, message);
    } catch (error) {
      getLogger().error(`Event handler error for action '${handler.action}'`, {
        consumer: target.name,
        error,
      });
      return;
    }
    if (result !== undefined && result !== null) {
      await this.#writeResult(result, envelope ?? {}, handler, target, false);
    }
  }
}

function call(instance: object, handler: HandlerInfo, message: AnyMessage): unknown {
  const method = (instance as Record<string, (m: AnyMessage) => unknown>)[handler.method];
  return method.call(instance, message);
}

const ENVELOPE_STRING_LIMITS = [["topic", MAX_TOPIC_LENGTH], ["ref", MAX_REF_LENGTH]] as const;

/** Checks the envelope keys of a client frame (never echoing more than a short prefix). */
function envelopeErrors(frame: Record<string, unknown>): ErrorItem[] {
  const errors: ErrorItem[] = [];
  for (const [key, max] of ENVELOPE_STRING_LIMITS) {
    const value = frame[key];
    if (value !== undefined && typeof value !== "string") {
      errors.push({ type: "string_type", loc: [key], msg: "Input should be a valid string" });
    } else if (typeof value === "string" && value.length > max) {
      errors.push({
        type: "string_too_long",
        loc: [key],
        msg: `String should have at most ${max} characters (got ${value.length})`,
      });
    }
  }
  if (frame.version !== undefined && frame.version !== ENVELOPE_VERSION) {
    errors.push({
      type: "version_unsupported",
      loc: ["version"],
      msg: `Unsupported envelope version ${
        describeInput(frame.version)
      }; this server speaks ${ENVELOPE_VERSION}`,
    });
  }
  return errors;
}
