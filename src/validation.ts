/**
 * Payload validation through Standard Schema, with errors as `{type, loc, msg}` items.
 *
 * @module
 */
import type { ErrorItem } from "./constants.ts";
import type { AnyMessageType } from "./message.ts";
import type { StandardSchemaV1 } from "./standard_schema.ts";

/** The outcome of {@linkcode validatePayload}. */
export type Validated = { ok: true; value: unknown } | { ok: false; errors: ErrorItem[] };

function pathKey(p: PropertyKey | StandardSchemaV1.PathSegment): string | number {
  const key = typeof p === "object" ? p.key : p;
  return typeof key === "number" ? key : String(key);
}

/** Validates `payload` against a message type; `present` tells whether the frame had a payload key. */
export async function validatePayload(
  type: AnyMessageType,
  payload: unknown,
  present: boolean,
): Promise<Validated> {
  const base = [type.action, "payload"];
  if (!type.schema) {
    if (payload === null || payload === undefined) return { ok: true, value: null };
    return {
      ok: false,
      errors: [{ type: "none_required", loc: base, msg: "Input should be null" }],
    };
  }
  if (!present) {
    return { ok: false, errors: [{ type: "missing", loc: base, msg: "Field required" }] };
  }
  let result = type.schema["~standard"].validate(payload);
  if (result instanceof Promise) result = await result;
  if (!result.issues) return { ok: true, value: result.value };
  return {
    ok: false,
    errors: result.issues.map((issue) => ({
      type: typeof (issue as { code?: unknown }).code === "string"
        ? (issue as unknown as { code: string }).code
        : "value_error",
      loc: [...base, ...(issue.path ?? []).map(pathKey)],
      msg: issue.message,
    })),
  };
}
