/**
 * The entries of the Redis queue layer, written and read: {@linkcode WriteOrder} hands one
 * instance's writes to Redis in call order, {@linkcode dispatchEntry} turns a popped entry
 * (`<header><JSON array of targets>\n<payload>`, see `scripts.ts`) into local mailbox
 * deliveries, and {@linkcode unlinkMatching} deletes keys by pattern (flush). Internal to the
 * queue layer.
 *
 * @module
 */
import { ownerOfKey } from "./cluster_keys.ts";
import { isProcessLocal, type LayerMessage } from "../../src/layers/kit.ts";
import { deepFreeze, type Mailboxes } from "../../src/layers/mailbox.ts";
import type { RedisClientLike } from "./redis_client.ts";
import { HEADER_LENGTH } from "./scripts.ts";
import type { MessageSerializer } from "../../src/layers/kit.ts";

/** Issues writes in call order while letting their preparation overlap. */
export class WriteOrder {
  /** Resolves once the last ordered write was handed to its connection. */
  #issued: Promise<void> = Promise.resolve();

  /**
   * Runs `prepare` (encoding, connecting: may overlap with other calls), then hands the command
   * `issue` sends to its connection only after every earlier call's: one instance's writes reach
   * Redis in call order. `issue` must send its first command synchronously.
   */
  async run<T>(prepare: () => Promise<() => Promise<T>>): Promise<T> {
    const previous = this.#issued;
    let done!: () => void;
    this.#issued = new Promise((resolve) => done = resolve);
    let issue: (() => Promise<T>) | undefined;
    try {
      issue = await prepare();
    } finally {
      await previous;
      if (!issue) done();
    }
    let reply: Promise<T>;
    try {
      reply = issue();
    } finally {
      done();
    }
    return await reply;
  }
}

/** What {@linkcode dispatchEntry} delivers with (the layer's `ShardedLayer`). */
export interface EntryContext {
  /** The layer's key prefix. */
  readonly prefix: string;
  /** Decodes payloads. */
  readonly serializer: MessageSerializer;
  /** The local mailboxes. */
  readonly mailboxes: Mailboxes;
}

/**
 * Hands one entry popped from `key` (`ageMs` old on the Redis clock) to local mailboxes; a
 * promise when decoding is asynchronous. Entries that are malformed, older than `expiryMs` or
 * undecodable are dropped and counted.
 */
export function dispatchEntry(
  ctx: EntryContext,
  expiryMs: number,
  key: string,
  member: string,
  ageMs: number,
): Promise<void> | undefined {
  const mailboxes = ctx.mailboxes;
  const owner = ownerOfKey(ctx.prefix, key);
  const nl = member.indexOf("\n", HEADER_LENGTH);
  let targets: string[];
  try {
    if (nl === -1) throw new Error("no target line");
    targets = JSON.parse(member.slice(HEADER_LENGTH, nl));
    if (!Array.isArray(targets)) throw new Error("targets are not an array");
  } catch (error) {
    mailboxes.drop(owner, "invalid", 1, `malformed queue entry: ${error}`);
    return;
  }
  if (!isProcessLocal(owner)) targets = [owner];
  const remaining = expiryMs - ageMs;
  if (remaining <= 0) {
    for (const t of targets) mailboxes.drop(t, "expired");
    return;
  }
  const deadline = Date.now() + remaining;
  const deliver = (message: LayerMessage) => {
    const frozen = deepFreeze(message);
    for (const t of targets) mailboxes.deliver(t, frozen, deadline);
  };
  const body = member.slice(nl + 1);
  try {
    const decoded = ctx.serializer.decode(body);
    if (!(decoded instanceof Promise)) {
      deliver(decoded);
      return;
    }
    return decoded.then(deliver, (error) => {
      for (const t of targets) mailboxes.drop(t, "invalid", 1, String(error));
    });
  } catch (error) {
    for (const t of targets) mailboxes.drop(t, "invalid", 1, String(error));
  }
}

/**
 * Deletes every key matching `pattern` on `client`, with SCAN (not KEYS) and UNLINK; `oneByOne`
 * on a cluster node (keys of several slots cannot share one UNLINK).
 */
export async function unlinkMatching(
  client: RedisClientLike,
  pattern: string,
  oneByOne = false,
): Promise<void> {
  let cursor = "0";
  do {
    const reply = (await client.sendCommand([
      "SCAN",
      cursor,
      "MATCH",
      pattern,
      "COUNT",
      "1000",
    ])) as [string, string[]];
    cursor = String(reply[0]);
    if (oneByOne) await Promise.all(reply[1].map((key) => client.sendCommand(["UNLINK", key])));
    else if (reply[1].length) await client.sendCommand(["UNLINK", ...reply[1]]);
  } while (cursor !== "0");
}
