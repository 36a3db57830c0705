/**
 * Group histories on Redis Streams, for both Redis layers (src/layers/history.ts).
 *
 * Keys per group `g` (prefix `p`), on the group's host, with one hash tag `{t}` so that a Redis
 * Cluster keeps them on one slot (`t` is `g`; on a cluster the pub/sub layer makes it the group's
 * shard channel `p:group:g`, so that the script can `SPUBLISH` there: a script's keys and shard
 * channels must share one slot):
 * - `p:history:{t}`: the stream; each entry `o` (offset) and `m` (the serialized message), its
 *   id set by Redis (`*`: the Redis clock). Trimmed to `size` entries (`MAXLEN`) and by age
 *   (`MINID ~` now − `ttlMs`; reads check the age exactly); it expires `ttlMs` after the last
 *   append.
 * - `p:history-meta:{t}`: a hash with the epoch `e` and the newest offset `o`. It outlives the
 *   stream (a day after the last append, or `ttlMs` if longer), so a receiver that had every
 *   message still recovers after a quiet spell. When it is gone (expired, FLUSHALL, a Redis
 *   restarted without its data) the next append or read makes a new epoch: every older position
 *   is then `epoch_changed`, never a silent gap. A Redis restored from an older copy (AOF with
 *   `everysec`) may be behind a position a client saw: `position_ahead`.
 *
 * Appends and reads are one Lua script each, so offsets are assigned atomically. The pub/sub
 * layer publishes in the same script (`#<offset> <epoch>` on the payload's target line), so
 * the members hear the messages of a group in offset order.
 *
 * @module
 */
import { checkHistoryOptions } from "../../src/layers/history.ts";
import type {
  HistoryEntry,
  HistoryLossReason,
  HistoryOptions,
  HistoryRead,
  HistoryReadOptions,
  StreamPosition,
} from "../../src/layers/history.ts";
import { assertGroupName, type LayerMessage, randomToken } from "../../src/layers/kit.ts";
import { unavailable } from "./redis_client.ts";
import type { RedisClientLike } from "./redis_client.ts";
import { Script } from "./scripts.ts";
import type { MessageSerializer } from "../../src/layers/kit.ts";

export { stampFromTarget } from "../../src/layers/kit.ts";

/** The shortest time the epoch and newest offset of a group are kept after its last append. */
const META_TTL_MS = 86_400_000;

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** Reads (or makes) the epoch of KEYS[2]; `fresh` is the epoch to make, `ttl` its expiry. */
const EPOCH = `
local function epoch_of(fresh, ttl)
  local epoch = redis.call('HGET', KEYS[2], 'e')
  if epoch then return epoch end
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'e', fresh, 'o', 0)
  redis.call('PEXPIRE', KEYS[2], ttl)
  return fresh
end
`;

/**
 * Appends ARGV[5] to stream KEYS[1] (meta KEYS[2]) and, with ARGV[6], publishes it on that
 * Redis channel as `#<offset> <epoch>\n<body>`. ARGV: size, ttlMs, metaTtlMs, fresh epoch, body,
 * channel. A channel is no key: it is not in KEYS. On a cluster the script runs with SPUBLISH
 * (`Script.run`), and the channel must be in the keys' slot (`RedisHistoryContext.tagOf`).
 * Returns {offset, epoch}.
 */
export const HISTORY_APPEND: Script = new Script(`${NOW}${EPOCH}
local epoch = epoch_of(ARGV[4], ARGV[3])
local offset = redis.call('HINCRBY', KEYS[2], 'o', 1)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'o', offset, 'm', ARGV[5])
redis.call('XTRIM', KEYS[1], 'MINID', '~', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if ARGV[6] then
  redis.call('PUBLISH', ARGV[6], '#' .. offset .. ' ' .. epoch .. '\\n' .. ARGV[5])
end
return {offset, epoch}
`);

/**
 * What followed offset ARGV[1] (empty: nothing, just the newest position) of epoch ARGV[2] in
 * stream KEYS[1] (meta KEYS[2]). ARGV: since, epoch, size, ttlMs, limit, fresh epoch, metaTtlMs.
 * Returns {status, epoch, top, offset1, body1, offset2, body2, ...}.
 */
export const HISTORY_READ: Script = new Script(`${NOW}${EPOCH}
local epoch = epoch_of(ARGV[6], ARGV[7])
local top = tonumber(redis.call('HGET', KEYS[2], 'o'))
if ARGV[1] == '' then return {'ok', epoch, top} end
if ARGV[2] ~= epoch then return {'epoch_changed', epoch, top} end
local since = tonumber(ARGV[1])
if since > top then return {'position_ahead', epoch, top} end
local missed = top - since
if missed == 0 then return {'ok', epoch, top} end
if missed > tonumber(ARGV[3]) then return {'trimmed', epoch, top} end
if missed > tonumber(ARGV[5]) then return {'too_many', epoch, top} end
local entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', missed)
local n = #entries
if n < missed then return {'too_old', epoch, top} end
local oldest = entries[n]
if tonumber(oldest[2][2]) ~= since + 1 then return {'too_old', epoch, top} end
if tonumber(string.match(oldest[1], '^(%d+)')) < now - tonumber(ARGV[4]) then
  return {'too_old', epoch, top}
end
local out = {'ok', epoch, top}
for i = n, 1, -1 do
  local fields = entries[i][2]
  out[#out + 1] = fields[2]
  out[#out + 1] = fields[4]
end
return out
`);

/** What the histories need of their layer. */
export interface RedisHistoryContext {
  /** The key prefix. */
  readonly prefix: string;
  /** The layer's serializer (plain JSON or encrypted). */
  readonly serializer: MessageSerializer;
  /** The ready command client of `group`'s host (throws `LayerUnavailableError`). */
  client(group: string, what: string): Promise<RedisClientLike>;
  /**
   * The hash tag of `group`'s keys (default: the group). On a Redis Cluster, the pub/sub layer
   * passes the group's shard channel: its slot is then the keys' slot, as a script that
   * publishes there must have.
   */
  tagOf?(group: string): string;
}

/** The histories of one Redis layer. */
export class RedisHistories {
  constructor(readonly ctx: RedisHistoryContext) {}

  /** The stream and meta keys of `group`. */
  keys(group: string): [string, string] {
    const tag = this.ctx.tagOf?.(group) ?? group;
    return [`${this.ctx.prefix}:history:{${tag}}`, `${this.ctx.prefix}:history-meta:{${tag}}`];
  }

  /**
   * Appends `message` to `group`'s history; with `publishTo`, publishes it there in the same
   * script (the pub/sub layer). Resolves with its position.
   */
  async append(
    group: string,
    message: LayerMessage,
    options: HistoryOptions,
    publishTo?: string,
  ): Promise<StreamPosition> {
    assertGroupName(group);
    checkHistoryOptions(options);
    const body = await this.ctx.serializer.encode(message);
    const what = `appendAndSend to ${group}`;
    const client = await this.ctx.client(group, what);
    const args = [
      String(options.size),
      String(Math.ceil(options.ttlMs)),
      String(Math.max(META_TTL_MS, Math.ceil(options.ttlMs))),
      randomToken(16),
      body,
    ];
    if (publishTo !== undefined) args.push(publishTo);
    await HISTORY_APPEND.ready();
    let reply;
    try {
      reply = await HISTORY_APPEND.run(client, this.keys(group), args) as [number, string];
    } catch (error) {
      throw unavailable(what, error);
    }
    return { offset: Number(reply[0]), epoch: String(reply[1]) };
  }

  /** What followed `since` in `group`'s history (see `HistoryCapability.readSince`). */
  async read(
    group: string,
    since: StreamPosition | undefined,
    options: HistoryReadOptions,
  ): Promise<HistoryRead> {
    assertGroupName(group);
    checkHistoryOptions(options);
    const what = `readSince on ${group}`;
    const client = await this.ctx.client(group, what);
    let reply: unknown[];
    try {
      reply = await HISTORY_READ.run(client, this.keys(group), [
        since ? String(since.offset) : "",
        since ? since.epoch : "",
        String(options.size),
        String(Math.ceil(options.ttlMs)),
        String(options.limit ?? options.size),
        randomToken(16),
        String(Math.max(META_TTL_MS, Math.ceil(options.ttlMs))),
      ]) as unknown[];
    } catch (error) {
      throw unavailable(what, error);
    }
    const status = String(reply[0]);
    const position = { offset: Number(reply[2]), epoch: String(reply[1]) };
    if (status !== "ok") {
      return { recovered: false, reason: status as HistoryLossReason, position };
    }
    const messages: HistoryEntry[] = [];
    for (let i = 3; i + 1 < reply.length; i += 2) {
      const message = await this.ctx.serializer.decode(String(reply[i + 1]));
      messages.push({ offset: Number(reply[i]), message });
    }
    return { recovered: true, messages, position };
  }
}
