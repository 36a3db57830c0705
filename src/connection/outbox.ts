/**
 * The write path of one connection: a frame's wire text (camelCase mode, envelope keys after
 * `action` and `payload`), the text shared by every member of a group fan-out, and the
 * slow-client policy (backpressure on the socket's buffered bytes).
 *
 * @module
 */
import { camelize, convertKeys } from "../protocol/case.ts";
import { COMPLETE_ACTIONS } from "../protocol/builtins.ts";
import { CloseCode } from "../protocol/close_codes.ts";
import { type Envelope, stampEnvelope } from "../protocol/envelope.ts";
import { type AnyMessage, isDroppable } from "../protocol/message.ts";
import type { ConsumerClass } from "../consumer/consumer.ts";
import type { ServerSocket } from "../runtime/socket.ts";
import { getLogger } from "../logger.ts";
import { ErrorMessage, handlerFailed } from "../protocol/error_frames.ts";
import type { ConnectionObserver } from "../observe/hooks.ts";

/** The outbox settings (from `AppOptions`). */
export interface OutboxSettings {
  /** Bytes queued for one client before it counts as slow. */
  maxBufferedBytes: number;
  /** `"close"`: close a slow client; `"drop"`: drop its droppable frames up to 4× the limit. */
  slowClientPolicy: "close" | "drop";
  /** Who is told of every frame sent (metrics; see `observe/hooks.ts`). Default: nobody. */
  observer?: ConnectionObserver;
}

/** What the outbox needs of its connection. */
export interface OutboxOwner {
  /** True while the socket is open (frames to a closing connection are dropped). */
  readonly isOpen: boolean;
  /** Closes the connection (a client too slow to keep up). */
  close(code?: number, reason?: string): void;
}

/**
 * Wire text of group messages, computed once per message and camelCase mode: a layer hands every
 * local member the same deep-frozen copy, so a fan-out to N sockets serializes once, not N times.
 */
const sharedText = new WeakMap<
  object,
  { plain?: string; camel?: string; plainAt?: string; camelAt?: string }
>();

/** The JSON text of a frame, with envelope keys after `action` and `payload`. */
export function frameText(frame: AnyMessage, camelCase: boolean, envelope?: Envelope): string {
  const body: Record<string, unknown> = {
    action: frame.action,
    payload: camelCase
      ? convertKeys(frame.payload ?? null, camelize)
      : frame.payload === undefined
      ? null
      : frame.payload,
  };
  if (envelope) stampEnvelope(body, envelope);
  return JSON.stringify(body);
}

/**
 * The wire text of a deep-frozen group message in one camelCase mode (with the envelope every
 * member gets, if any), serialized once and shared by every member (the loop's writes and a
 * runtime's native fan-out alike). Throws what serializing throws.
 */
export function sharedFrameText(
  frame: AnyMessage,
  camelCase: boolean,
  envelope?: Envelope,
): string {
  let cached = sharedText.get(frame);
  if (!cached) sharedText.set(frame, cached = {});
  // With or without its history position (the same for every member): members of classes with
  // and without history share one group message.
  if (envelope) {
    return camelCase
      ? (cached.camelAt ??= frameText(frame, true, envelope))
      : (cached.plainAt ??= frameText(frame, false, envelope));
  }
  return camelCase
    ? (cached.camel ??= frameText(frame, true))
    : (cached.plain ??= frameText(frame, false));
}

/** Serializes and sends the frames of one connection. */
export class Outbox {
  /** Frames dropped for this slow client (droppable types only). */
  droppedFrames = 0;
  /** Frames that could not be serialized (too deep for the stack, cyclic, a BigInt…). */
  unsendableFrames = 0;

  constructor(
    readonly socket: ServerSocket,
    readonly cls: ConsumerClass,
    readonly settings: OutboxSettings,
    readonly owner: OutboxOwner,
  ) {
    this.observer = settings.observer;
  }

  /** Who is told of every frame sent (`settings.observer`). */
  readonly observer: ConnectionObserver | undefined;

  /** The JSON text of a frame, with envelope keys after `action` and `payload`. */
  serialize(frame: AnyMessage, envelope?: Envelope): string {
    return frameText(frame, this.cls.camelCase, envelope);
  }

  /**
   * Sends one frame. `shared`: the frame is a deep-frozen layer message that other members
   * receive too, so its text is cached on it.
   */
  write(frame: AnyMessage, envelope?: Envelope, shared = false): void {
    const cls = this.cls;
    if (!this.owner.isOpen) {
      getLogger().debug(`${cls.name}: dropped '${frame.action}' to a closed connection`);
      return;
    }
    if (!this.#admit(frame)) return;
    if (cls.logMessages && !COMPLETE_ACTIONS.has(frame.action)) {
      getLogger().debug("Websocket sent", { consumer: cls.name, action: frame.action });
    }
    let text: string;
    try {
      // `shared`: the envelope (none, or a history position) is the same for every member.
      if (shared && Object.isFrozen(frame)) {
        text = sharedFrameText(frame, cls.camelCase, envelope);
      } else {
        text = this.serialize(frame, envelope);
      }
    } catch (error) {
      // Reported, never silently lost: logged, counted, and the client told (once per frame).
      this.unsendableFrames++;
      getLogger().error(`${cls.name}: could not serialize '${frame.action}'; not sent`, { error });
      if (frame.action !== ErrorMessage.action) this.write(handlerFailed(frame.action), envelope);
      return;
    }
    try {
      this.socket.send(text);
      this.observer?.sent(frame, text.length);
    } catch (error) {
      getLogger().warn(`${cls.name}: send failed`, { error });
    }
  }

  /** Sends a completion frame (`complete`, `group_complete`…) when the class asks for them. */
  complete(action: string, envelope?: Envelope): void {
    if (this.cls.sendCompletion) this.write({ action, payload: null }, envelope);
  }

  /**
   * The slow-client policy: false when the frame must not be sent (dropped for a slow client, or
   * the client is closed for being too slow). A fan-out never waits for its slowest member.
   */
  #admit(frame: AnyMessage): boolean {
    const buffered = this.socket.bufferedAmount ?? 0;
    const { maxBufferedBytes: limit, slowClientPolicy: policy } = this.settings;
    if (buffered <= limit) return true;
    if (policy === "drop" && buffered <= 4 * limit && isDroppable(frame.action)) {
      this.droppedFrames++;
      this.observer?.dropped();
      getLogger().debug(`${this.cls.name}: dropped '${frame.action}' for a slow client`);
      return false;
    }
    if (policy === "close" || buffered > 4 * limit) {
      getLogger().warn(`${this.cls.name}: closing a slow client (${buffered} bytes queued)`);
      this.observer?.slowClosed();
      this.owner.close(CloseCode.tryAgainLater, "Client too slow");
      return false;
    }
    return true;
  }
}
