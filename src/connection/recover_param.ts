/**
 * The `recover` query parameter of a reconnecting client (docs/recovery.md): its last position
 * per consumer group and per topic, read with bounds.
 *
 * @module
 */
import { isStreamPosition, type StreamPosition } from "../layers/history.ts";

/** The query parameter a reconnecting client puts its last positions in. */
export const RECOVER_PARAM = "recover";
/** The longest `recover` parameter accepted (characters). */
export const MAX_RECOVER_LENGTH = 8192;
/** The most streams one `recover` parameter may name. */
export const MAX_RECOVER_STREAMS = 100;
/** The error reason of a `recover` parameter that cannot be read. */
export const INVALID_RECOVER = "invalid_recover";

/** The positions a client sent: by consumer group, and by topic. */
export interface RecoverRequest {
  groups: Map<string, StreamPosition>;
  topics: Map<string, StreamPosition>;
}

/**
 * Reads the `recover` query parameter: `{"groups": {name: {offset, epoch}}, "topics": {...}}`.
 * Undefined without one; a string (the problem) when it is malformed or over the bounds.
 */
export function parseRecoverParam(url: string): RecoverRequest | undefined | string {
  let raw: string | null;
  try {
    raw = new URL(url).searchParams.get(RECOVER_PARAM);
  } catch {
    return undefined;
  }
  if (raw === null) return undefined;
  if (raw.length > MAX_RECOVER_LENGTH) return `longer than ${MAX_RECOVER_LENGTH} characters`;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return "not JSON";
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return "not an object";
  const request: RecoverRequest = { groups: new Map(), topics: new Map() };
  let count = 0;
  for (const [key, into] of [["groups", request.groups], ["topics", request.topics]] as const) {
    const part = (value as Record<string, unknown>)[key];
    if (part === undefined) continue;
    if (!part || typeof part !== "object" || Array.isArray(part)) return `'${key}' not an object`;
    for (const [name, position] of Object.entries(part)) {
      if (++count > MAX_RECOVER_STREAMS) return `more than ${MAX_RECOVER_STREAMS} streams`;
      if (!isStreamPosition(position)) return `'${key}' holds a position that is not valid`;
      into.set(name, { offset: position.offset, epoch: position.epoch });
    }
  }
  return request;
}
