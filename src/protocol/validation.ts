/**
 * Payload validation through Standard Schema, with errors as `{type, loc, msg}` items.
 *
 * @module
 */
import { ErrorCode, type ErrorItem } from "./error_frames.ts";
import type { AnyMessageType } from "./message.ts";
import type { StandardSchemaV1 } from "./standard_schema.ts";
import { truncateForEcho } from "./truncate.ts";

/**
 * An error frame lists at most this many validation errors; a last item of type
 * `too_many_errors` counts the rest (a 1 MiB array of bad items gets a small answer).
 */
export const MAX_ERROR_ITEMS = 20;

/** The outcome of {@linkcode validatePayload}. */
export type Validated = { ok: true; value: unknown } | { ok: false; errors: ErrorItem[] };

function pathKey(p: PropertyKey | StandardSchemaV1.PathSegment): string | number {
  const key = typeof p === "object" ? p.key : p;
  // Keys come from the client's payload: cut like any echoed value.
  return typeof key === "number" ? key : truncateForEcho(String(key));
}

/**
 * Validates `payload` against a message type; `present` tells whether the frame had a payload key.
 * Synchronous when the schema is (zod's are): a promise only for an asynchronous schema, so the
 * frame path takes no extra hop.
 */
export function validatePayload(
  type: AnyMessageType,
  payload: unknown,
  present: boolean,
): Validated | Promise<Validated> {
  const base = [type.action, "payload"];
  if (!type.schema) {
    if (payload === null || payload === undefined) return { ok: true, value: null };
    return {
      ok: false,
      errors: [{ type: ErrorCode.noneRequired, loc: base, msg: "Input should be null" }],
    };
  }
  if (!present) {
    return { ok: false, errors: [{ type: ErrorCode.missing, loc: base, msg: "Field required" }] };
  }
  const result = type.schema["~standard"].validate(payload);
  if (result instanceof Promise) return result.then((r) => outcome(base, r));
  return outcome(base, result);
}

function outcome(base: string[], result: StandardSchemaV1.Result<unknown>): Validated {
  if (!result.issues) return { ok: true, value: result.value };
  const issues = result.issues;
  const errors: ErrorItem[] = issues.slice(0, MAX_ERROR_ITEMS).map((issue) => ({
    type: typeof (issue as { code?: unknown }).code === "string"
      ? truncateForEcho((issue as unknown as { code: string }).code)
      : ErrorCode.valueError,
    loc: [...base, ...(issue.path ?? []).map(pathKey)],
    // Schema messages may quote the input (zod: "Unrecognized key: <key>").
    msg: truncateForEcho(String(issue.message)),
  }));
  if (issues.length > MAX_ERROR_ITEMS) {
    errors.push({
      type: ErrorCode.tooManyErrors,
      loc: base,
      msg: `${issues.length - MAX_ERROR_ITEMS} more errors not listed`,
    });
  }
  return { ok: false, errors };
}
