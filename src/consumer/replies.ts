/**
 * Handler replies: what a handler may return (typed by its declared output) and the run-time
 * check of a reply before it is sent.
 *
 * @module
 */
import type { AnyMessage, AnyMessageType, Message, MessageOf } from "../protocol/message.ts";
import { type Validated, validatePayload } from "../protocol/validation.ts";
import { type HandlerInfo, isUntyped } from "./handler_table.ts";

/** What a handler may return: a reply message, nothing, or a promise of either. */
export type HandlerResult = AnyMessage | void | undefined | Promise<AnyMessage | void | undefined>;

/**
 * What a handler declaring `output: O` may return: a message of one of those types, an `error`
 * message, nothing, or a promise of one of them. Any {@linkcode HandlerResult} when `O` is `never`
 * (no output declared).
 */
export type ReplyOf<O> = [O] extends [never] ? HandlerResult
  : O extends AnyMessageType | readonly AnyMessageType[] ?
      | MessageOf<O extends readonly AnyMessageType[] ? O[number] : Extract<O, AnyMessageType>>
      | Message<"error", unknown>
      | void
      | undefined
      | Promise<
        | MessageOf<O extends readonly AnyMessageType[] ? O[number] : Extract<O, AnyMessageType>>
        | Message<"error", unknown>
        | void
        | undefined
      >
  : HandlerResult;

/** The outcome of {@linkcode checkReply}: the message to send, or what is wrong with the reply. */
export type ReplyCheck = { ok: true; message: AnyMessage } | { ok: false; problem: string };

function describeValue(value: unknown): string {
  if (typeof value === "string") return `a string (${JSON.stringify(value.slice(0, 40))})`;
  if (typeof value !== "object" || value === null) return `${typeof value} ${String(value)}`;
  return Array.isArray(value) ? "an array" : "an object without a string 'action'";
}

/**
 * Checks what a handler returned (anything but `undefined`/`null`) before it is sent: a message
 * (`{action, payload}`), of one of the declared `output` types when there are any (`error`
 * messages always pass), and — for handlers TypeScript did not check ({@linkcode registerHandlers})
 * — with a payload its output schema accepts (the validated payload is what gets sent).
 * Synchronous unless that schema validates asynchronously.
 */
export function checkReply(
  handler: HandlerInfo,
  result: unknown,
): ReplyCheck | Promise<ReplyCheck> {
  if (
    typeof result !== "object" || result === null ||
    typeof (result as AnyMessage).action !== "string"
  ) {
    return { ok: false, problem: `returned ${describeValue(result)}, not a message` };
  }
  const reply = result as AnyMessage;
  if (handler.output.length === 0 || reply.action === "error") return { ok: true, message: reply };
  const type = handler.output.find((t) => t.action === reply.action);
  if (!type) {
    return {
      ok: false,
      problem: `returned '${reply.action}', which is not in its declared output (${
        handler.output.map((t) => `'${t.action}'`).join(", ")
      })`,
    };
  }
  if (!isUntyped(handler)) return { ok: true, message: reply };
  const checked = validatePayload(type, reply.payload, true);
  if (checked instanceof Promise) return checked.then((c) => checkedReply(reply, c));
  return checkedReply(reply, checked);
}

function checkedReply(reply: AnyMessage, checked: Validated): ReplyCheck {
  if (!checked.ok) {
    return {
      ok: false,
      problem: `returned a '${reply.action}' whose payload its schema refuses (${
        checked.errors.map((e) => `${e.loc.join(".")}: ${e.msg}`).join("; ")
      })`,
    };
  }
  return { ok: true, message: { action: reply.action, payload: checked.value } };
}
