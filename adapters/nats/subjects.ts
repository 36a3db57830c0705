/**
 * The NATS subjects of the NATS layer, and how a message travels on them.
 *
 * - a group `g` is `<prefix>.g.<g>`; a normal channel `c` is `<prefix>.c.<c>`; a process-local
 *   channel `a.b!x` is `<prefix>.c.<a.b!>` (one subscription per process prefix, the target
 *   named in the payload);
 * - a name is one subject token: its periods are written as `~` (a character names never hold,
 *   so the mapping is one to one), so `a..b` or `.a` never make an empty token, and no name can
 *   reach into another's subjects with a wildcard;
 * - the payload is `<target channel or empty>\n<serialized message>`.
 *
 * @module
 */
import { nonLocalName } from "../../src/layers/kit.ts";

const PREFIX_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Throws a TypeError unless `prefix` is a valid subject prefix (tokens of letters, digits, `-`, `_`). */
export function assertSubjectPrefix(prefix: string): void {
  if (typeof prefix !== "string" || prefix.length > 64 || !PREFIX_RE.test(prefix)) {
    throw new TypeError(
      `prefix must be NATS subject tokens of ASCII letters, digits, '-' or '_' joined by '.' ` +
        `(at most 64 characters); got ${JSON.stringify(prefix)}`,
    );
  }
}

/** A channel or group name as one subject token. */
export function subjectToken(name: string): string {
  return name.replaceAll(".", "~");
}

/** The subject a channel is published on (its non-local part for a process-local channel). */
export function channelSubject(prefix: string, channel: string): string {
  return `${prefix}.c.${subjectToken(nonLocalName(channel))}`;
}

/** The subject of a group. */
export function groupSubject(prefix: string, group: string): string {
  return `${prefix}.g.${subjectToken(group)}`;
}

/** `target\nbody`: the payload of a message to `target` (empty for groups and normal channels). */
export function framePayload(target: string, body: string): string {
  return `${target}\n${body}`;
}

/** Splits a payload into its target and body, or undefined when it has no target line. */
export function splitPayload(payload: string): { target: string; body: string } | undefined {
  const nl = payload.indexOf("\n");
  if (nl === -1) return undefined;
  return { target: payload.slice(0, nl), body: payload.slice(nl + 1) };
}
