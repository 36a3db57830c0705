/**
 * The WebSocket communicator: drives an app like a client would, in-process or over a real socket,
 * and reads frames until the server says it is done (completion signals), never on sleeps.
 *
 * @module
 */
import type { App } from "../src/app/app.ts";
import { camelize, convertKeys, decamelize } from "../src/protocol/case.ts";
import { COMPLETE_ACTIONS, MESSAGE_ACTION_COMPLETE } from "../src/protocol/builtins.ts";
import { ENVELOPE_FIELDS, ENVELOPE_VERSION } from "../src/protocol/envelope.ts";
import type { TopicClass } from "../src/consumer/topic.ts";
import type { Consumer, ConsumerClass } from "../src/consumer/consumer.ts";
import type { AnyMessage } from "../src/protocol/message.ts";
import { type CloseInfo, Inbox, ReceiveTimeoutError } from "./inbox.ts";
import {
  assertReceives,
  type AssertReceivesOptions,
  type FrameExpectation,
  type FrameReader,
  type ReceivedFrame,
  refuteReceives,
  type RefuteReceivesOptions,
} from "./assertions.ts";
import { CHANX_RECEIVE_ALL_TIMEOUT, isTopicCompletion } from "./chanx_mode.ts";
import {
  type ClientTransport,
  type ConnectResult,
  inProcessTransport,
  socketTransport,
} from "./transport.ts";

export {
  type CommunicatorOptions,
  DEFAULT_RECEIVE_TIMEOUT,
  type ReceiveAllOptions,
  type TopicFrame,
} from "./communicator_options.ts";
import {
  type CommunicatorOptions,
  DEFAULT_RECEIVE_TIMEOUT,
  type ReceiveAllOptions,
  type TopicFrame,
} from "./communicator_options.ts";

/**
 * A test client for one WebSocket path of an app.
 *
 * ```ts
 * await using comm = await WebsocketCommunicator.connect(app, "/ws/system", { consumer: SystemConsumer });
 * await comm.sendMessage(Ping.create());
 * assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
 * ```
 */
export class WebsocketCommunicator {
  /** The path this communicator connects to. */
  readonly path: string;
  readonly #options: CommunicatorOptions;
  readonly #inbox: Inbox;
  readonly #transport: ClientTransport;
  readonly #app: App;
  #connected = false;
  #refs = 0;

  /** Creates a communicator; call {@linkcode connect} before sending. */
  constructor(app: App, path: string, options: CommunicatorOptions = {}) {
    this.path = path;
    this.#options = options;
    this.#app = app;
    this.#inbox = this.#keepsTopicCompletions ? new Inbox() : new Inbox(isTopicCompletion);
    this.#transport = options.url
      ? socketTransport(options.url, path, options.headers, this.#inbox, options.WebSocket)
      : inProcessTransport(app, path, options.headers, this.#inbox);
  }

  /**
   * Creates a communicator and connects it; throws unless the upgrade is accepted. In-process,
   * {@linkcode App.check} runs first for the path, so a route whose layer alias nobody registered
   * throws its `LayerNotFoundError` here.
   */
  static async connect(
    app: App,
    path: string,
    options: CommunicatorOptions = {},
  ): Promise<WebsocketCommunicator> {
    const comm = new WebsocketCommunicator(app, path, options);
    const result = await comm.connect();
    if (!result.accepted) {
      throw new Error(
        `Connecting to ${path} was refused with ${result.status}: ${result.body ?? ""}`,
      );
    }
    return comm;
  }

  /**
   * Opens the connection. In-process, it resolves once `postAuthentication` has run, so frames it
   * sent are already waiting. A refused upgrade resolves with `accepted: false` and the status.
   */
  async connect(): Promise<ConnectResult> {
    if (!this.#options.url) this.#app.check(new URL(this.path, "http://x").pathname);
    const result = await this.#transport.connect();
    this.#connected = result.accepted;
    return result;
  }

  /**
   * Closes the connection (default code 1000). In-process it resolves once the server finished
   * `onDisconnect` (groups left). Over a real socket it resolves once the closing handshake
   * completed (the server received the close); the server's `onDisconnect` may still be running
   * then: to wait for it, await a signal the consumer gives (a promise its `onDisconnect`
   * resolves, for example).
   */
  async disconnect(code = 1000, reason = ""): Promise<void> {
    if (!this.#connected) return;
    this.#connected = false;
    await this.#transport.close(code, reason);
  }

  /** `await using` support: disconnects. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.disconnect();
  }

  /**
   * The server-side consumer instance of this connection (in-process only; `undefined` over a
   * real socket). Handy to read `channelName` or state in tests.
   */
  get consumer(): Consumer | undefined {
    return this.#transport.consumer;
  }

  /** How the connection closed, if it did (for example 1009 after an oversized frame). */
  get closeInfo(): CloseInfo | undefined {
    return this.#inbox.closeInfo;
  }

  /** Waits until the server closes the connection; returns the close code and reason. */
  async waitForClose(timeout = DEFAULT_RECEIVE_TIMEOUT): Promise<CloseInfo> {
    const deadline = Date.now() + timeout;
    while (!this.#inbox.closeInfo) {
      const left = deadline - Date.now();
      if (left <= 0) throw new ReceiveTimeoutError(`${this.path}: not closed within ${timeout} ms`);
      // Frames may be queued or arrive first: they stay queued; wait for the next event.
      await this.#inbox.waitForNew(left);
    }
    return this.#inbox.closeInfo;
  }

  /**
   * Sends a message. With `topic` it is addressed to that topic subscription (envelope
   * `version`/`topic`); with `ref` the reply, error and completion of this request echo it.
   */
  sendMessage(message: AnyMessage, options: { topic?: string; ref?: string } = {}): Promise<void> {
    const frame: Record<string, unknown> = {
      action: message.action,
      payload: this.#options.consumer?.camelCase
        ? convertKeys(message.payload ?? null, camelize)
        : message.payload ?? null,
    };
    if (options.topic !== undefined) {
      frame.version = ENVELOPE_VERSION;
      frame.topic = options.topic;
    }
    if (options.ref !== undefined) frame.ref = options.ref;
    return this.sendJson(frame);
  }

  /**
   * Subscribes to `topic` and returns the reply frame (`subscribed`, or an `error` whose payload
   * has `reason`). The request's own `complete` never reaches a later receive: when the consumer
   * class is known (in-process, or the `consumer` option) and sends completions, this waits for it
   * and consumes it; over a socket without the option, it is dropped whenever it arrives.
   */
  subscribe(topic: string, options: { ref?: string; timeout?: number } = {}): Promise<TopicFrame> {
    return this.#topicRequest("subscribe", topic, options);
  }

  /** Unsubscribes from `topic` and returns the `unsubscribed` frame (see {@linkcode subscribe}). */
  unsubscribe(
    topic: string,
    options: { ref?: string; timeout?: number } = {},
  ): Promise<TopicFrame> {
    return this.#topicRequest("unsubscribe", topic, options);
  }

  async #topicRequest(
    action: string,
    topic: string,
    options: { ref?: string; timeout?: number },
  ): Promise<TopicFrame> {
    const ref = options.ref ?? String(++this.#refs);
    const timeout = options.timeout ?? DEFAULT_RECEIVE_TIMEOUT;
    await this.sendJson({ version: ENVELOPE_VERSION, topic, ref, action });
    const isReply = (f: TopicFrame) =>
      f.ref === ref && f.topic === topic && !COMPLETE_ACTIONS.has(f.action);
    const reply = JSON.parse(
      await this.#inbox.takeWhere(
        (t) => isReply(JSON.parse(t)),
        timeout,
        () => `${action}(${topic})`,
      ),
    ) as TopicFrame;
    const isCompletion = (t: string) => {
      const f = JSON.parse(t) as TopicFrame;
      return f.ref === ref && f.action === MESSAGE_ACTION_COMPLETE;
    };
    const cls = this.#consumerClass;
    if (!this.#keepsTopicCompletions) {
      // Topic completions are dropped on arrival (Chanx mode): nothing to wait for.
    } else if (cls?.sendCompletion) {
      await this.#inbox.takeWhere(isCompletion, timeout, () => `${action}(${topic}) completion`);
    } else if (!cls) {
      // Over a socket without the `consumer` option: whether a completion comes is unknown, so
      // the one with this request's ref is dropped if it is queued or whenever it arrives.
      this.#inbox.discardOne(isCompletion);
    }
    return reply;
  }

  /**
   * Receives the next topic frame (completion frames skipped) and returns its message without the
   * envelope keys. Give a topic class to take only frames whose topic matches its pattern, or
   * `{topic}` for one exact topic; frames that do not match stay queued.
   */
  async receiveTopicMessage<M extends AnyMessage = AnyMessage>(
    topicClassOrOptions?: TopicClass | { topic?: string; timeout?: number },
    options: { timeout?: number } = {},
  ): Promise<M> {
    const topicClass = typeof topicClassOrOptions === "function" ? topicClassOrOptions : undefined;
    const opts = topicClass
      ? options
      : (topicClassOrOptions ?? {}) as { topic?: string; timeout?: number };
    const exact = topicClass ? undefined : (opts as { topic?: string }).topic;
    const timeout = opts.timeout ?? DEFAULT_RECEIVE_TIMEOUT;
    const raw = await this.#inbox.takeWhere(
      (t) => {
        const f = JSON.parse(t) as TopicFrame;
        if (f.topic === undefined || COMPLETE_ACTIONS.has(f.action)) return false;
        if (topicClass) return topicClass.parse(f.topic) !== undefined;
        return exact === undefined || f.topic === exact;
      },
      timeout,
      () => `receiveTopicMessage(${topicClass?.name ?? exact ?? "any topic"})`,
    );
    const frame = JSON.parse(raw) as Record<string, unknown>;
    for (const key of ENVELOPE_FIELDS) delete frame[key];
    return this.#decode(frame) as M;
  }

  /** Sends any JSON value as a text frame, unchanged. */
  sendJson(value: unknown): Promise<void> {
    return this.sendText(JSON.stringify(value));
  }

  /** Sends a raw text frame (for invalid-JSON tests). */
  sendText(text: string): Promise<void> {
    this.#transport.sendText(text);
    return Promise.resolve();
  }

  /** Sends a binary frame. */
  sendBytes(bytes: Uint8Array): Promise<void> {
    this.#transport.sendBytes(bytes);
    return Promise.resolve();
  }

  /** Receives the next frame as parsed JSON (completion frames included). */
  async receiveJson(options: { timeout?: number } = {}): Promise<unknown> {
    const timeout = options.timeout ?? DEFAULT_RECEIVE_TIMEOUT;
    return JSON.parse(await this.#inbox.take(timeout, () => `receiveJson(${this.path})`));
  }

  #decode(frame: unknown): AnyMessage {
    const m = frame as AnyMessage;
    if (this.#options.consumer?.camelCase) {
      return { action: m.action, payload: convertKeys(m.payload, decamelize) };
    }
    return m;
  }

  /**
   * Receives frames until one with `stopAction` arrives (default `"complete"`). Completion frames
   * are never returned; the stop frame is, unless it is a completion. Frames after it stay queued.
   * Throws when the stop frame does not come within `timeout`, listing what did.
   */
  async receiveAllMessages<M extends AnyMessage = AnyMessage>(
    options: ReceiveAllOptions = {},
  ): Promise<M[]> {
    const stopAction = options.stopAction === undefined
      ? MESSAGE_ACTION_COMPLETE
      : options.stopAction;
    const pending = stopAction === null
      ? undefined
      : typeof stopAction === "string"
      ? [stopAction]
      : [...stopAction];
    const timeout = options.timeout ??
      (this.#options.chanx ? CHANX_RECEIVE_ALL_TIMEOUT : DEFAULT_RECEIVE_TIMEOUT);
    const returnOnTimeout = (options.onTimeout ?? (this.#options.chanx ? "return" : "throw")) ===
      "return";
    const deadline = Date.now() + timeout;
    const out: M[] = [];
    const noCompletions = this.#noCompletions(pending);
    // In-process the consumer is the real one: no need to wait for frames that are never sent.
    if (noCompletions && this.#transport.consumer && !returnOnTimeout) {
      throw new ReceiveTimeoutError(`receiveAllMessages(${this.path}): ${noCompletions}`);
    }
    while (true) {
      const frame = this.#inbox.poll();
      if (frame === undefined) {
        const left = deadline - Date.now();
        if (this.#inbox.closeInfo && pending) {
          throw new Error(
            `receiveAllMessages(${this.path}): the connection closed (code ${this.#inbox.closeInfo.code}) ` +
              `before '${pending.join("', '")}'; received ${JSON.stringify(out)}`,
          );
        }
        if (left <= 0 || this.#inbox.closeInfo || !(await this.#inbox.waitForActivity(left))) {
          if (!pending || (returnOnTimeout && !this.#inbox.closeInfo)) return out;
          throw new ReceiveTimeoutError(
            `receiveAllMessages(${this.path}): no '${
              pending.join("', '")
            }' within ${timeout} ms; ` +
              `received ${JSON.stringify(out)}${noCompletions ? `. ${noCompletions}` : ""}`,
          );
        }
        continue;
      }
      const message = this.#decode(JSON.parse(frame));
      const isCompletion = COMPLETE_ACTIONS.has(message.action);
      if (!isCompletion) out.push(message as M);
      const i = pending?.indexOf(message.action) ?? -1;
      if (i !== -1) {
        pending!.splice(i, 1);
        if (pending!.length === 0) return out;
      }
    }
  }

  /** The consumer class behind this path: the in-process instance's, else the `consumer` option. */
  get #consumerClass(): ConsumerClass | undefined {
    const instance = this.#transport.consumer;
    return instance ? instance.constructor as ConsumerClass : this.#options.consumer;
  }

  /** Why waiting for the completion actions in `pending` is hopeless, if it is. */
  #noCompletions(pending: readonly string[] | undefined): string | undefined {
    const cls = this.#consumerClass;
    const waited = pending?.filter((a) => COMPLETE_ACTIONS.has(a)) ?? [];
    if (!cls || cls.sendCompletion || waited.length === 0) return undefined;
    return `${cls.name}.sendCompletion is false: no 'complete' frames are sent, so '${
      waited.join("', '")
    }' never arrives. Set \`static override sendCompletion = true\` on the consumer (or ` +
      `\`${cls.name}.sendCompletion = true\` in the test), or wait with another stopAction.`;
  }

  /**
   * True when no frame arrives within `timeout` ms (default 100). Consumes nothing: a frame that
   * arrives stays queued for the next receive.
   */
  async receiveNothing(options: { timeout?: number } = {}): Promise<boolean> {
    if (this.#inbox.size > 0) return false;
    await this.#inbox.waitForActivity(options.timeout ?? 100);
    return this.#inbox.size === 0;
  }

  /** False when topic completions are discarded on arrival (`topicCompletions: false`, `chanx`). */
  get #keepsTopicCompletions(): boolean {
    return this.#options.topicCompletions ?? !this.#options.chanx;
  }

  /** The inbox and decoding, for the assertions. */
  get #reader(): FrameReader {
    return {
      inbox: this.#inbox,
      path: this.path,
      decode: (raw) => {
        const frame = JSON.parse(raw) as ReceivedFrame;
        return { ...frame, ...this.#decode(frame) };
      },
    };
  }

  /**
   * Phoenix's `assert_receive`: waits for a frame with this action, or equal to this message
   * (action and payload; envelope keys ignored), takes it and returns it with its envelope keys.
   * Frames that do not match stay queued, in order. Fails with an `AssertionError` diffing the
   * expectation against the frames that arrived, after `timeout` (default 5000 ms; it only bounds
   * a failure — a frame that is there returns at once).
   *
   * ```ts
   * await comm.sendMessage(Ping.create());
   * await comm.assertReceives(Pong.create());
   * ```
   */
  assertReceives<M extends AnyMessage = AnyMessage>(
    expected: FrameExpectation,
    options: AssertReceivesOptions = {},
  ): Promise<ReceivedFrame<M>> {
    return assertReceives<M>(this.#reader, expected, options, DEFAULT_RECEIVE_TIMEOUT);
  }

  /**
   * Phoenix's `refute_receive`: fails with an `AssertionError` if a frame with this action (or
   * equal to this message) is queued or arrives within `within` ms (default 100). The only
   * assertion that always waits its whole window — an absence has no completion signal — so call
   * it after a completion frame showed the server is done. Waits on arrivals, never polls; takes
   * nothing when it passes.
   */
  refuteReceives(expected: FrameExpectation, options: RefuteReceivesOptions = {}): Promise<void> {
    return refuteReceives(this.#reader, expected, options);
  }

  /**
   * The socket dies without a close frame, as when the client's network goes away. In-process,
   * the server sees an abnormal closure (1006) and this resolves once its `onDisconnect` ran. Over
   * a real socket the TCP connection is destroyed (this needs the `ws` package's `WebSocket` as
   * the `WebSocket` option: the global one cannot drop without a close frame); it resolves once
   * the client side is closed — the server notices on its own, so wait for an effect there. Then
   * {@linkcode closeInfo} is `{code: 1006}`.
   */
  async drop(): Promise<void> {
    if (!this.#connected) return;
    await this.#transport.drop(); // throws (and stays connected) when the socket cannot drop
    this.#connected = false;
  }

  /**
   * Opens a new connection to the same path with the same options (URL, headers, consumer,
   * WebSocket class) and returns it as a **new** communicator; this one stays closed (if it is
   * still open, it is disconnected first with 1000). Throws unless the upgrade is accepted.
   *
   * ```ts ignore
   * await comm.drop();
   * await using again = await comm.reconnect();
   * ```
   */
  async reconnect(): Promise<WebsocketCommunicator> {
    if (this.#connected) await this.disconnect();
    return await WebsocketCommunicator.connect(this.#app, this.path, this.#options);
  }
}
