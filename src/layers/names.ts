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

/** The character codes of a {@linkcode randomToken}'s letters and digits. */
const ALPHABET = new TextEncoder().encode(
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
);
const POOL_SIZE = 4096;
let pool: Uint8Array | undefined;
let poolAt = POOL_SIZE;

/** A random string of `length` ASCII letters and digits, from the platform's crypto source. */
export function randomToken(length = 16): string {
  // One per connection (its channel name): random bytes drawn from a pool refilled 4 KiB at a
  // time (each byte used once), and one string made, not an iterator and a string per character.
  if (length > POOL_SIZE) return randomToken(POOL_SIZE) + randomToken(length - POOL_SIZE);
  if (!pool || poolAt + length > POOL_SIZE) {
    crypto.getRandomValues(pool ??= new Uint8Array(POOL_SIZE));
    poolAt = 0;
  }
  const bytes = pool.subarray(poolAt, poolAt += length);
  for (let i = 0; i < length; i++) bytes[i] = ALPHABET[bytes[i] % ALPHABET.length];
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}
