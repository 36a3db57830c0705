/**
 * Handler mixins shared by tutorial consumers: a client-message handler, an event handler and a
 * passthrough event, each contributed by a function that extends whatever base it is given.
 *
 * ```ts
 * class ChatConsumer extends ExtraWsHandlerMixin(ExtraPassthroughMixin(BaseConsumer<Events>)) {}
 * ```
 *
 * Every mixin level's `@wsHandler` / `@eventHandler` methods, `passthroughEvents` and
 * `extraGroups` end up in the final class; actions share one namespace, so two levels handling
 * the same action is a `DefinitionError` naming both methods.
 */
import { z } from "zod";
import {
  type AnyMessage,
  type AnyMessageType,
  type ConsumerMixinBase,
  eventHandler,
  message,
  type MessageOf,
  wsHandler,
} from "../../mod.ts";

/** Client → server: a string to extend. */
export const ExtraRequestMessage = message("extra_request", z.string());
/** Event: a string to extend and send to the client. */
export const ExtraEventMessage = message("extra_event", z.string());
/** Server → client: the extended string. */
export const ExtraResponseMessage = message("extra_response", z.string());
/** Event forwarded to clients unchanged. */
export const ExtraPassthroughMessage = message("extra_passthrough", z.string());

/** What a mixin may extend: any consumer class (abstract or not), statics included. */
export type MixinBase<Events extends AnyMessage = AnyMessage> = ConsumerMixinBase<Events>;

/** Adds an `extra_request` → `extra_response` client handler. */
export function ExtraWsHandlerMixin<T extends MixinBase>(Base: T) {
  abstract class ExtraWsHandler extends Base {
    @wsHandler(ExtraRequestMessage, {
      output: ExtraResponseMessage,
      summary: "Handle extra request",
      description: "Simple extra message",
    })
    handleExtraMessage(
      message: MessageOf<typeof ExtraRequestMessage>,
    ): MessageOf<typeof ExtraResponseMessage> {
      return ExtraResponseMessage.create(`${message.payload} any extra thing`);
    }
  }
  return ExtraWsHandler;
}

/** Adds an `extra_event` event handler that sends `extra_response` to the client. */
export function ExtraEventHandlerMixin<T extends MixinBase>(Base: T) {
  abstract class ExtraEventHandler extends Base {
    @eventHandler(ExtraEventMessage, {
      output: ExtraResponseMessage,
      summary: "Handle extra event",
      description: "Simple extra event message",
    })
    handleExtraEvent(
      event: MessageOf<typeof ExtraEventMessage>,
    ): MessageOf<typeof ExtraResponseMessage> {
      return ExtraResponseMessage.create(`${event.payload} any extra thing`);
    }
  }
  return ExtraEventHandler;
}

/** Forwards `extra_passthrough` events to the client unchanged. */
export function ExtraPassthroughMixin<T extends MixinBase>(Base: T) {
  abstract class ExtraPassthrough extends Base {
    static override passthroughEvents: readonly AnyMessageType[] = [ExtraPassthroughMessage];
  }
  return ExtraPassthrough;
}
