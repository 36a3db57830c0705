/**
 * One live connection: the frame pipeline (decode, validate, dispatch, reply, complete), the
 * layer receive loop (broadcasts and events) and the lifecycle.
 *
 * @module
 */
import { camelize, convertKeys, decamelize } from "./case.ts";
import { COMPLETE_ACTIONS, type ErrorItem } from "./constants.ts";
import {
  type BroadcastOptions,
  type Consumer,
  type ConsumerClass,
  type ConsumerRuntime,
  RUNTIME,
} from "./consumer.ts";
import { ClosedError } from "./errors.ts";
import { type HandlerInfo, type HandlerTable, handlerTable } from "./handlers.ts";
import type { ChannelLayer, JsonValue, LayerMessage } from "./layer.ts";
import { getLogger } from "./logger.ts";
import type { AnyMessage } from "./message.ts";
import { assertGroupName } from "./names.ts";
import { EVENT_TYPE, GROUP_TYPE, RESYNC_MESSAGE_TYPE } from "./protocol.ts";
import type { ConnectionHandle, ServerSocket } from "./socket.ts";
import { validatePayload } from "./validation.ts";

/** WebSocket close codes the core uses. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  tooBig: 1009,
  internalError: 1011,
} as const;

/** Settings the App passes to each connection. */
export interface ConnectionSettings {
  maxFrameBytes: number;
  onClosed(connection: Connection): void;
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
  // A UTF-16 code unit encodes to at most 3 bytes: skip encoding when the frame is surely small.
  if (text.length * 3 <= limit) return text.length;
  return encoder.encode(text).byteLength;
}

function errorFrame(payload: ErrorItem[] | { detail: string }): AnyMessage {
  return { action: "error", payload };
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
  readonly #abort = new AbortController();
  #layer: ChannelLayer | undefined;
  #channelName = "";
  #state: "new" | "open" | "closing" | "closed" = "new";
  #disconnected: Promise<void> | undefined;
  #receiveLoop: Promise<void> | undefined;

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
    // deno-lint-ignore no-this-alias
    const self = this;
    const runtime: ConsumerRuntime = {
      request,
      params,
      get channelName() {
        return self.#channelName;
      },
      get closed() {
        return self.#state === "closing" || self.#state === "closed";
      },
      send: (m) => this.send(m),
      broadcast: (m, o) => this.broadcast(m, o),
      join: (g) => this.join(g),
      leave: (g) => this.leave(g),
      close: (code, reason) => this.close(code, reason),
    };
    consumer[RUNTIME] = runtime;
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
      try {
        if (this.cls.layer !== null) {
          this.#layer = this.cls.getLayer();
          this.#channelName = await this.#layer.newChannel(this.cls.name || "consumer");
          this.#receiveLoop = this.#runReceiveLoop(this.#layer);
          const initial = [...new Set([...this.cls.defaultGroups(), ...this.consumer.groups])];
          this.consumer.groups = [];
          for (const g of initial) await this.join(g);
        }
        await this.consumer.postAuthentication();
      } catch (error) {
        getLogger().error(`${this.cls.name}: connect failed`, { error });
        this.close(CloseCode.internalError, "Server error while connecting");
      }
    });
  }

  closed(code: number, _reason?: string): Promise<void> {
    if (this.#disconnected) return this.#disconnected;
    this.#state = "closed";
    this.#disconnected = (async () => {
      try {
        await this.consumer.onDisconnect(code);
      } catch (error) {
        getLogger().error(`${this.cls.name}.onDisconnect failed`, { error });
      }
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
    }
  }

  /** Resolves when every frame and event queued so far has been handled. */
  async idle(): Promise<void> {
    await this.#frames.idle;
    await this.#events.idle;
  }

  // ---- sending ----------------------------------------------------------------------------

  #write(frame: AnyMessage): void {
    if (this.#state !== "open") {
      getLogger().debug(`${this.cls.name}: dropped '${frame.action}' to a closed connection`);
      return;
    }
    const body = this.cls.camelCase
      ? { action: frame.action, payload: convertKeys(frame.payload, camelize) }
      : { action: frame.action, payload: frame.payload === undefined ? null : frame.payload };
    if (this.cls.logMessages && !COMPLETE_ACTIONS.has(frame.action)) {
      getLogger().debug("Websocket sent", { consumer: this.cls.name, action: frame.action });
    }
    try {
      this.#socket.send(JSON.stringify(body));
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

  #complete(action: string): void {
    if (this.cls.sendCompletion) this.#write({ action, payload: null });
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
    await layer.groupAdd(group, this.#channelName);
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
    const limit = this.cls.maxFrameBytes ?? this.#settings.maxFrameBytes;
    if (byteLength(data, limit) > limit) {
      getLogger().warn(`${this.cls.name}: frame over ${limit} bytes, closing with 1009`);
      this.close(CloseCode.tooBig, `Frame larger than ${limit} bytes`);
      return;
    }
    this.#frames.push(() => this.#handleFrame(data));
  }

  binary(data: Uint8Array): void {
    if (this.#state !== "open" && this.#state !== "new") return;
    const limit = this.cls.maxFrameBytes ?? this.#settings.maxFrameBytes;
    if (data.byteLength > limit) {
      this.close(CloseCode.tooBig, `Frame larger than ${limit} bytes`);
      return;
    }
    this.#frames.push(() => {
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
    try {
      await this.#dispatchFrame(data);
    } catch (error) {
      getLogger().error(`${this.cls.name}: failed to process message`, { error });
      this.#write(errorFrame({ detail: "Failed to process message" }));
    }
    this.#complete("complete");
  }

  async #dispatchFrame(data: string): Promise<void> {
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch (error) {
      this.#write(errorFrame([{
        type: "json_invalid",
        loc: [],
        msg: `Invalid JSON: ${(error as Error).message}`,
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
    const action = frame.action;
    if (action === undefined || action === null) {
      this.#write(errorFrame([{
        type: "union_tag_not_found",
        loc: [],
        msg: "Unable to extract tag using discriminator 'action'",
      }]));
      return;
    }
    const handler = typeof action === "string" ? this.table.ws.get(action) : undefined;
    if (!handler) {
      this.#write(errorFrame([{
        type: "union_tag_invalid",
        loc: [],
        msg: `Input tag '${
          String(action)
        }' found using 'action' does not match any of the expected tags: ${
          this.table.expected || "(none)"
        }`,
      }]));
      return;
    }
    if (this.cls.logMessages) {
      getLogger().debug("Websocket received", { consumer: this.cls.name, action: handler.action });
    }
    const payload = this.cls.camelCase ? convertKeys(frame.payload, decamelize) : frame.payload;
    const checked = await validatePayload(handler.input, payload, "payload" in frame);
    if (!checked.ok) {
      this.#write(errorFrame(checked.errors));
      return;
    }
    await this.#invoke(handler, { action: handler.action, payload: checked.value });
  }

  async #invoke(handler: HandlerInfo, message: AnyMessage): Promise<void> {
    let result: unknown;
    try {
      const method =
        (this.consumer as unknown as Record<string, (m: AnyMessage) => unknown>)[handler.method];
      result = await method.call(this.consumer, message);
    } catch (error) {
      getLogger().error(`Handler error for action '${handler.action}'`, {
        consumer: this.cls.name,
        error,
      });
      this.#write(errorFrame({ detail: `Failed to process message for ${handler.action}` }));
      return;
    }
    if (result !== undefined && result !== null) await this.send(result as AnyMessage);
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
      this.#events.push(() => this.#handleLayerMessage(message));
    }
  }

  async #handleLayerMessage(message: LayerMessage): Promise<void> {
    if (this.#state !== "open") return;
    switch (message.type) {
      case GROUP_TYPE: {
        if (message.exclude === this.#channelName) return;
        this.#write(message.message as unknown as AnyMessage);
        this.#complete("group_complete");
        return;
      }
      case EVENT_TYPE:
        try {
          await this.#handleEvent(message.event as unknown as AnyMessage);
        } finally {
          this.#complete("event_complete");
        }
        return;
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

  async #handleEvent(event: AnyMessage): Promise<void> {
    const action = event?.action;
    const handler = typeof action === "string" ? this.table.events.get(action) : undefined;
    if (!handler) {
      getLogger().error(
        `${this.cls.name}: no event handler for action '${String(action)}' (handled: ${
          [...this.table.events.keys()].join(", ") || "none"
        })`,
      );
      return;
    }
    const checked = await validatePayload(handler.input, event.payload, true);
    if (!checked.ok) {
      getLogger().error(
        `${this.cls.name}: event validation failed for action '${handler.action}'`,
        {
          errors: checked.errors,
        },
      );
      return;
    }
    const message = { action: handler.action, payload: checked.value };
    if (handler.passthrough) {
      this.#write(message);
      return;
    }
    let result: unknown;
    try {
      const method =
        (this.consumer as unknown as Record<string, (m: AnyMessage) => unknown>)[handler.method];
      result = await method.call(this.consumer, message);
    } catch (error) {
      getLogger().error(`Event handler error for action '${handler.action}'`, {
        consumer: this.cls.name,
        error,
      });
      return;
    }
    if (result !== undefined && result !== null) await this.send(result as AnyMessage);
  }
}
