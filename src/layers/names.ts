/**
 * Channel and group name rules, shared by every layer.
 *
 * Names are ASCII letters, digits, `-`, `_` and `.`, shorter than 100 characters. A channel name
 * may hold one `!`: the part up to and including it names the process that owns the channel
 * ("process-local" channels, made by `newChannel()`).
 *
 * @module
 */
import { InvalidNameError } from "../errors.ts";
import { describeInput } from "../protocol/truncate.ts";

/** Names must be shorter than this many characters. */
export const MAX_NAME_LENGTH = 100;

const CHANNEL_RE = /^[a-zA-Z0-9\-_.]+(![a-zA-Z0-9\-_.]*)?$/;
const GROUP_RE = /^[a-zA-Z0-9\-_.]+$/;

function describe(kind: string): string {
  return `${kind} name must be a string shorter than ${MAX_NAME_LENGTH} characters, ` +
    `made of ASCII letters, digits, hyphens, underscores or periods`;
}

/** The rejected name for the error message: JSON, cut to MAX_ECHO_LENGTH characters. */
function quote(name: unknown): string {
  return typeof name === "string" ? JSON.stringify(describeInput(name)) : describeInput(name);
}

/** Throws {@linkcode InvalidNameError} unless `name` is a valid channel name. */
export function assertChannelName(name: unknown): asserts name is string {
  if (typeof name !== "string" || name.length >= MAX_NAME_LENGTH || !CHANNEL_RE.test(name)) {
    throw new InvalidNameError(
      `${describe("Channel")} (one '!' allowed after the process prefix); got ${quote(name)}`,
    );
  }
}

/** Throws {@linkcode InvalidNameError} unless `name` is a valid group name. */
export function assertGroupName(name: unknown): asserts name is string {
  if (typeof name !== "string" || name.length >= MAX_NAME_LENGTH || !GROUP_RE.test(name)) {
    throw new InvalidNameError(`${describe("Group")}; got ${quote(name)}`);
  }
}

/** True when `name` is a process-local channel name (`prefix!suffix`). */
export function isProcessLocal(name: string): boolean {
  return name.includes("!");
}

/**
 * The part of a channel name that names its owner: up to and including the `!` for a process-local
 * channel, the whole name otherwise. Layers shard and route by this part.
 */
export function nonLocalName(name: string): string {
  const bang = name.indexOf("!");
  return bang === -1 ? name : name.slice(0, bang + 1);
}

/** A random string of `length` ASCII letters and digits, from the platform's crypto source. */
export function randomToken(length = 16): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = "";
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}
