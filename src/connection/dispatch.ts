/**
 * The handler end of the pipeline (steps 5–8 of `connection.ts`): discriminate → validate →
 * handler → reply, for a client frame and for a layer event, on the consumer itself or on one of
 * its topic subscriptions; and the kinds of layer message (group relay, event, topic event,
 * resync).
 *
 * @module
 */
import { convertKeys, decamelize } from "../protocol/case.ts";
import type { Envelope } from "../protocol/envelope.ts";
import {
  actionMissing,
  actionUnknown,
  errorFrame,
  handlerFailed,
  invalidReply,
  layerUnavailable,
} from "../protocol/error_frames.ts";
import type { AnyMessage } from "../protocol/message.ts";
import { describeInput } from "../protocol/truncate.ts";
import { type Validated, validatePayload } from "../protocol/validation.ts";
import type { Consumer } from "../consumer/consumer.ts";
import { checkReply, type HandlerInfo, type ReplyCheck } from "../consumer/handlers.ts";
import type { LayerMessage } from "../layers/layer.ts";
import { EVENT_TYPE, GROUP_TYPE, RESYNC_MESSAGE_TYPE, TOPIC_TYPE } from "../layers/messages.ts";
import { EVENT_ACTION_COMPLETE, GROUP_ACTION_COMPLETE } from "../protocol/builtins.ts";
import { LayerUnavailableError } from "../errors.ts";
import { getLogger } from "../logger.ts";
import type { Outbox } from "./outbox.ts";
import { activeTracer, type ConnectionObserver } from "../observe/hooks.ts";
import type { Subscriptions, Target } from "./subscriptions.ts";
import { DONE, withFinally } from "./serial_queue.ts";

/**
 * The outbox a dispatch answers through (its `cls` gives the camelCase and logging modes; its
 * `observer`, when there is one, is told of each frame and layer message).
 */
export type Replies = Pick<Outbox, "write" | "complete" | "cls"> & {
  readonly observer?: ConnectionObserver;
};

/** Validates and runs a client frame on `target`; every answer goes out through `out`. */
export function dispatchFrame(
  out: Replies,
  target: Target,
  frame: Record<string, unknown>,
  envelope: Envelope,
): Promise<void> {
  // 5) discriminate: the handler of `action`.
  const action = frame.action;
  const handler = typeof action === "string" ? target.table.ws.get(action) : undefined;
  const observer = out.observer;
  // --- observe (issue 23): counted by handler action, unknown actions under one label ---
  if (observer) observer.received(handler?.action);
  if (action === undefined || action === null) {
    out.write(actionMissing(), envelope);
    return DONE;
  }
  if (!handler) {
    out.write(actionUnknown(action, target.table.expected), envelope);
    return DONE;
  }
  const tracer = activeTracer();
  if (!tracer) return handleFrame(out, target, frame, envelope, handler, observer);
  const attributes = { "switchboard.consumer": target.name, "switchboard.action": handler.action };
  const run = () => handleFrame(out, target, frame, envelope, handler, observer);
  return tracer.span(`ws ${handler.action}`, attributes, undefined, run);
}

/**
 * Steps 6)–8) of a client frame whose handler is found, timed for `observer` when it asks
 * (`startTiming`). The timing wraps the body itself: an extra async frame for some frames only
 * costs more than the clock (bench/metrics_cost.ts). Synchronous ({@linkcode DONE}) unless the
 * schema or the handler is asynchronous: no microtask hop per step.
 */
function handleFrame(
  out: Replies,
  target: Target,
  frame: Record<string, unknown>,
  envelope: Envelope,
  handler: HandlerInfo,
  observer: ConnectionObserver | undefined,
): Promise<void> {
  const started = observer ? observer.startTiming() : 0; // 0: this frame is not timed
  if (!started) return validateFrame(out, target, frame, envelope, handler);
  return withFinally(
    () => validateFrame(out, target, frame, envelope, handler),
    () => observer!.handled(handler.action, started),
  );
}

/** 6) validates the payload against the handler's input type, then 7)–8). */
function validateFrame(
  out: Replies,
  target: Target,
  frame: Record<string, unknown>,
  envelope: Envelope,
  handler: HandlerInfo,
): Promise<void> {
  if (out.cls.logMessages) {
    getLogger().debug("Websocket received", { consumer: target.name, action: handler.action });
  }
  const payload = out.cls.camelCase ? convertKeys(frame.payload, decamelize) : frame.payload;
  const checked = validatePayload(handler.input, payload, "payload" in frame);
  if (checked instanceof Promise) {
    return checked.then((c) => runHandler(out, target, envelope, handler, c));
  }
  return runHandler(out, target, envelope, handler, checked);
}

/** 7) the handler (it may send, broadcast, join…), then 8) its reply. */
function runHandler(
  out: Replies,
  target: Target,
  envelope: Envelope,
  handler: HandlerInfo,
  checked: Validated,
): Promise<void> {
  if (!checked.ok) {
    out.write(errorFrame(checked.errors), envelope);
    return DONE;
  }
  let result: unknown;
  try {
    result = call(target.instance, handler, { action: handler.action, payload: checked.value });
  } catch (error) {
    handlerFailure(out, target, envelope, handler, error);
    return DONE;
  }
  if (isThenable(result)) {
    return Promise.resolve(result).then(
      (value) => replyTo(out, value, envelope, handler, target),
      (error) => handlerFailure(out, target, envelope, handler, error),
    );
  }
  return replyTo(out, result, envelope, handler, target);
}

/** A frame whose handling threw: the client gets `layer_unavailable` or `handler_failed`. */
export function frameFailed(out: Replies, error: unknown, envelope: Envelope): void {
  if (error instanceof LayerUnavailableError) return out.write(layerUnavailable(error), envelope);
  getLogger().error(`${out.cls.name}: failed to process message`, { error });
  out.write(handlerFailed(), envelope);
}

/** A handler that threw: logged, and the client told (`layer_unavailable` or `handler_failed`). */
function handlerFailure(
  out: Replies,
  target: Target,
  envelope: Envelope,
  handler: HandlerInfo,
  error: unknown,
): void {
  if (error instanceof LayerUnavailableError) {
    getLogger().warn(`${handler.action}: channel layer unavailable`, { error });
    return out.write(layerUnavailable(error), envelope);
  }
  getLogger().error(`Handler error for action '${handler.action}'`, {
    consumer: target.name,
    error,
  });
  out.write(handlerFailed(handler.action), envelope);
}

/** 8) reply (the connection then sends the completion). */
function replyTo(
  out: Replies,
  result: unknown,
  envelope: Envelope,
  handler: HandlerInfo,
  target: Target,
): Promise<void> {
  if (result === undefined || result === null) return DONE;
  return writeResult(out, result, envelope, handler, target, true);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

/**
 * 4) Routes a layer message by kind: a group broadcast is relayed to the client (unless this
 * connection, `channelName`, sent it with `excludeCurrent`), an event goes to the consumer
 * (`self`), a topic event to its subscription, a resync to `onResync`. `position`: where the
 * message stands in its history stream (consumers and topics with `static history`), stamped on
 * the frame.
 */
export function dispatchLayerMessage(
  out: Replies,
  self: Target,
  subscriptions: Pick<Subscriptions, "get">,
  channelName: string,
  message: LayerMessage,
  position?: Envelope["position"],
): Promise<void> {
  // --- observe (issue 23): counts, lag, and a span continuing the sender's trace ---
  const observer = out.observer;
  if (observer) {
    observer.layerReceived(message.type, message.sent_at);
    if (message.type === RESYNC_MESSAGE_TYPE) observer.resynced();
  }
  const tracer = activeTracer();
  const parent = typeof message.traceparent === "string" ? message.traceparent : undefined;
  if (!tracer || (!parent && message.type !== EVENT_TYPE && message.type !== TOPIC_TYPE)) {
    // A group relay is synchronous: no async frame, DONE (the loop then stays idle).
    if (message.type === GROUP_TYPE) return relayGroup(out, channelName, message, position);
    return routeLayerMessage(out, self, subscriptions, channelName, message, position);
  }
  const event = message.event as { action?: unknown } | undefined;
  const attributes = {
    "switchboard.consumer": self.name,
    "switchboard.layer_message": message.type,
    "switchboard.action": String(
      event?.action ?? (message.message as { action?: unknown })?.action,
    ),
  };
  const run = () => routeLayerMessage(out, self, subscriptions, channelName, message, position);
  return tracer.span(`layer ${message.type}`, attributes, parent, run);
}

/**
 * A group broadcast to the client, then its `group_complete`, unless this connection
 * (`channelName`) sent it with `excludeCurrent`. Synchronous: answers {@linkcode DONE}.
 */
function relayGroup(
  out: Replies,
  channelName: string,
  message: LayerMessage,
  position: Envelope["position"] | undefined,
): Promise<void> {
  if (message.exclude === channelName) return DONE;
  out.write(message.message as unknown as AnyMessage, position && { position }, true);
  out.complete(GROUP_ACTION_COMPLETE);
  return DONE;
}

/** Handles a layer message by kind (see {@linkcode dispatchLayerMessage}). */
async function routeLayerMessage(
  out: Replies,
  self: Target,
  subscriptions: Pick<Subscriptions, "get">,
  channelName: string,
  message: LayerMessage,
  position?: Envelope["position"],
): Promise<void> {
  switch (message.type) {
    case GROUP_TYPE:
      return relayGroup(out, channelName, message, position);
    case EVENT_TYPE:
      try {
        await dispatchEvent(out, self, message.event as unknown as AnyMessage, undefined);
      } finally {
        out.complete(EVENT_ACTION_COMPLETE);
      }
      return;
    case TOPIC_TYPE: {
      const topic = String(message.topic);
      const sub = subscriptions.get(topic);
      if (!sub) return; // unsubscribed meanwhile
      const envelope: Envelope = { topic };
      if (typeof message.seq === "number") envelope.seq = message.seq;
      if (position) envelope.position = position;
      try {
        await dispatchEvent(out, sub, message.event as unknown as AnyMessage, envelope);
      } finally {
        out.complete(EVENT_ACTION_COMPLETE, envelope);
      }
      return;
    }
    case RESYNC_MESSAGE_TYPE:
      try {
        await (self.instance as Consumer).onResync(String(message.reason ?? "layer reconnected"));
      } catch (error) {
        getLogger().error(`${self.name}.onResync failed`, { error });
      }
      return;
    default:
      getLogger().warn(`${self.name}: ignored layer message of unknown type '${message.type}'`);
  }
}

/**
 * Validates and runs a layer event on `target` (a passthrough event goes to the client as is).
 * Failures are logged: the event's sender is not the client.
 */
async function dispatchEvent(
  out: Replies,
  target: Target,
  event: AnyMessage,
  envelope: Envelope | undefined,
): Promise<void> {
  // 5) discriminate
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
  // 6) validate
  const checked = await validatePayload(handler.input, event.payload, true);
  if (!checked.ok) {
    getLogger().error(`${target.name}: event validation failed for action '${handler.action}'`, {
      errors: checked.errors,
    });
    return;
  }
  const message = { action: handler.action, payload: checked.value };
  if (handler.passthrough) return out.write(message, envelope);
  // 7) the event handler
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
  // 8) reply
  if (result !== undefined && result !== null) {
    await writeResult(out, result, envelope ?? {}, handler, target, false);
  }
}

/**
 * Sends a handler's return value once {@linkcode checkReply} accepts it. A refused reply is
 * logged and not sent; the client of a message handler gets an `invalid_reply` error frame.
 */
function writeResult(
  out: Replies,
  result: unknown,
  envelope: Envelope,
  handler: HandlerInfo,
  target: Target,
  answersClient: boolean,
): Promise<void> {
  const checked = checkReply(handler, result);
  if (checked instanceof Promise) {
    return checked.then((c) => sendReply(out, c, result, envelope, handler, target, answersClient));
  }
  sendReply(out, checked, result, envelope, handler, target, answersClient);
  return DONE;
}

/** Sends a checked reply, or logs why it was refused (and tells the client of a message handler). */
function sendReply(
  out: Replies,
  checked: ReplyCheck,
  result: unknown,
  envelope: Envelope,
  handler: HandlerInfo,
  target: Target,
  answersClient: boolean,
): void {
  if (checked.ok) return out.write(checked.message, envelope);
  getLogger().error(`${target.name}.${handler.method}() ${checked.problem}; nothing was sent`, {
    consumer: target.name,
    action: handler.action,
    result,
  });
  if (answersClient) out.write(invalidReply(handler.action), envelope);
}

function call(instance: object, handler: HandlerInfo, message: AnyMessage): unknown {
  const method = (instance as Record<string, (m: AnyMessage) => unknown>)[handler.method];
  return method.call(instance, message);
}
