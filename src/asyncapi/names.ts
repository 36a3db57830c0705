/**
 * How the AsyncAPI generator names things: channels and topics after their classes
 * (`SystemMessageConsumer` → `system_message`), schemas in PascalCase, operations after handlers.
 *
 * @module
 */
import type { HandlerInfo } from "../consumer/handlers.ts";
import { camelize, decamelize } from "../protocol/case.ts";

/**
 * `text` without leading (when `leading`) and trailing runs of `ch`. A scan, not /ch+$/: that
 * regex retries from every `ch` of a long run that is not at the end (quadratic time), and the
 * server URL can come from the request's Host header.
 */
export function trimRuns(text: string, ch: string, leading: boolean): string {
  let start = 0;
  let end = text.length;
  if (leading) { while (start < end && text[start] === ch) start++; }
  while (end > start && text[end - 1] === ch) end--;
  return text.slice(start, end);
}

/** `SystemMessageConsumer` → `system_message`; `RoomTopic` → `room_topic`. */
export function snakeName(className: string, suffix?: string): string {
  const base = suffix && className.endsWith(suffix) && className !== suffix
    ? className.slice(0, -suffix.length)
    : className;
  return trimRuns(decamelize(base.replace(/[^A-Za-z0-9_]+/g, "_")), "_", true);
}

/** `room_chat` → `RoomChat`. */
export function pascal(name: string): string {
  return camelize(name).replace(/^./, (c) => c.toUpperCase());
}

/**
 * The operation id of a handler before uniqueness: its explicit `operationId`, else its method
 * name in snake_case (camelCase in the camelCase wire mode).
 */
export function operationBaseId(h: HandlerInfo, camelCase: boolean): string {
  const explicit = !h.passthrough && h.operationId !== h.method;
  if (explicit) return h.operationId;
  const snake = decamelize(h.operationId);
  return camelCase ? camelize(snake) : snake;
}
