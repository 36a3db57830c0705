/**
 * The envelope: the keys that ride alongside `action` and `payload` (`version`, `topic`, `ref`,
 * `seq`), their limits, how a client frame is decoded and its envelope checked, and how a server
 * frame is stamped with one.
 *
 * @module
 */
import {
  ErrorCode,
  errorFrame,
  type ErrorItem,
  jsonInvalid,
  jsonTooDeep as tooDeepFrame,
  notAnObject,
} from "./error_frames.ts";
import { DEFAULT_MAX_JSON_DEPTH, jsonTooDeep } from "./json_depth.ts";
import type { AnyMessage } from "./message.ts";
import { describeInput } from "./truncate.ts";

/** The envelope fields that ride alongside `action` on topic frames. */
export interface Envelope {
  /** Protocol version (always 1). */
  version?: number;
  /** The topic, e.g. `room:lobby`. */
  topic?: string;
  /** The client's request id, echoed on the reply, error and completion of that request. */
  ref?: string;
  /**
   * A broadcast sequence number chosen by the publisher (gap detection; no replay). Server to
   * client only: a client frame carrying `seq` is refused (`extra_forbidden`, loc `["seq"]`).
   */
  seq?: number;
  /**
   * Where a broadcast sits in its history (consumers and topics with `static history`): the
   * offset and epoch, and for a consumer group's frame, the group. Server to client only.
   */
  position?: { group?: string; offset: number; epoch: string };
}

/** The envelope version. */
export const ENVELOPE_VERSION = 1;

/**
 * The longest `topic` a client frame may carry; a longer one gets a `string_too_long` error frame
 * (loc `["topic"]`) that does not echo it.
 */
export const MAX_TOPIC_LENGTH = 1000;

/**
 * The longest `ref` a client frame may carry (it is echoed on every reply, error and completion
 * of the request); a longer one gets a `string_too_long` error frame without it.
 */
export const MAX_REF_LENGTH = 200;

/** The envelope keys (reserved on every frame). */
export const ENVELOPE_FIELDS: ReadonlySet<string> = new Set(["version", "topic", "ref", "seq"]);

const ENVELOPE_STRING_LIMITS = [["topic", MAX_TOPIC_LENGTH], ["ref", MAX_REF_LENGTH]] as const;

/** Checks the envelope keys of a client frame (never echoing more than a short prefix). */
function envelopeErrors(frame: Record<string, unknown>): ErrorItem[] {
  const errors: ErrorItem[] = [];
  for (const [key, max] of ENVELOPE_STRING_LIMITS) {
    const value = frame[key];
    if (value !== undefined && typeof value !== "string") {
      errors.push({
        type: ErrorCode.stringType,
        loc: [key],
        msg: "Input should be a valid string",
      });
    } else if (typeof value === "string" && value.length > max) {
      errors.push({
        type: ErrorCode.stringTooLong,
        loc: [key],
        msg: `String should have at most ${max} characters (got ${value.length})`,
      });
    }
  }
  if (frame.version !== undefined && frame.version !== ENVELOPE_VERSION) {
    errors.push({
      type: ErrorCode.versionUnsupported,
      loc: ["version"],
      msg: `Unsupported envelope version ${
        describeInput(frame.version)
      }; this server speaks ${ENVELOPE_VERSION}`,
    });
  }
  if (frame.seq !== undefined) {
    errors.push({
      type: ErrorCode.extraForbidden,
      loc: ["seq"],
      msg: "'seq' is set by the server on broadcasts; a client frame must not carry it",
    });
  }
  return errors;
}

/** A decoded client frame, or the error frame that answers it. */
export type Decoded =
  | { ok: true; frame: Record<string, unknown> }
  | { ok: false; error: AnyMessage };

/**
 * Decodes a client text frame into an object with a valid envelope. Fills `envelope.ref` with the
 * frame's `ref` when it is valid (even when another envelope key is not, so the error and its
 * completion are still tied to the request); `topic` is left to the caller. A frame nesting
 * arrays and objects deeper than `maxDepth` levels is refused (`json_too_deep`) before it is
 * parsed.
 */
export function decodeFrame(
  data: string,
  envelope: Envelope,
  maxDepth: number = DEFAULT_MAX_JSON_DEPTH,
): Decoded {
  if (jsonTooDeep(data, maxDepth)) return { ok: false, error: tooDeepFrame(maxDepth) };
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch (error) {
    return { ok: false, error: jsonInvalid(error) };
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return { ok: false, error: notAnObject() };
  }
  const frame = raw as Record<string, unknown>;
  const bad = envelopeErrors(frame);
  if (bad.length) {
    if (typeof frame.ref === "string" && frame.ref.length <= MAX_REF_LENGTH) {
      envelope.ref = frame.ref;
    }
    return { ok: false, error: errorFrame(bad) };
  }
  if (typeof frame.ref === "string") envelope.ref = frame.ref;
  return { ok: true, frame };
}

/**
 * Adds the envelope keys to a server frame's body, after `action` and `payload`: `version` and
 * `topic` when there is a topic, then `ref` and `seq`.
 */
export function stampEnvelope(body: Record<string, unknown>, envelope: Envelope): void {
  if (envelope.topic !== undefined) {
    body.version = ENVELOPE_VERSION;
    body.topic = envelope.topic;
  }
  if (envelope.ref !== undefined) body.ref = envelope.ref;
  if (envelope.seq !== undefined) body.seq = envelope.seq;
  if (envelope.position !== undefined) body.position = envelope.position;
}
