/**
 * Lua scripts of the Redis queue layer, run with EVALSHA (EVAL on NOSCRIPT).
 *
 * A stored queue entry (a sorted-set member, score = send time in epoch ms) is
 * `<12-char base36 sequence><8-char sender token><JSON array of target channels>\n<payload>`.
 * The header keeps members unique and, within one millisecond, in the sender's order.
 *
 * @module
 */
import type { RedisClientLike } from "./redis_client.ts";

/** Length of the header before the targets. */
export const HEADER_LENGTH = 20;

/** A script with its SHA-1, computed once. */
export class Script {
  /** The Lua source. */
  readonly source: string;
  #sha: Promise<string> | undefined;

  /** Wraps a Lua source. */
  constructor(source: string) {
    this.source = source;
  }

  /** The SHA-1 hex digest EVALSHA needs. */
  sha(): Promise<string> {
    this.#sha ??= crypto.subtle.digest("SHA-1", new TextEncoder().encode(this.source)).then(
      (d) => [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join(""),
    );
    return this.#sha;
  }

  /** Runs the script on `client`. */
  async run(client: RedisClientLike, keys: string[], args: string[]): Promise<unknown> {
    const sha = await this.sha();
    try {
      return await client.sendCommand(["EVALSHA", sha, String(keys.length), ...keys, ...args]);
    } catch (error) {
      if (!String((error as Error)?.message ?? error).includes("NOSCRIPT")) throw error;
      return await client.sendCommand(["EVAL", this.source, String(keys.length), ...keys, ...args]);
    }
  }
}

const DELIVER_BODY = `
local function deliver(key, now, expiry, cap, member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - expiry)
  if redis.call('ZCARD', key) >= cap then return false end
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, expiry)
  return true
end
`;

/**
 * Stores one entry in each of KEYS unless that key is at capacity.
 * ARGV: now, expiryMs, header, payload, then per key: capacity, targets JSON.
 * Returns the 1-based indexes of the keys that were full.
 */
export const DELIVER: Script = new Script(`${DELIVER_BODY}
local now = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2])
local full = {}
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[3 + 2 * i])
  if not deliver(key, now, expiry, cap, ARGV[3] .. ARGV[4 + 2 * i] .. '\\n' .. ARGV[4]) then
    full[#full + 1] = i
  end
end
return full
`);

/** Trims expired members of group KEYS[1] (ARGV: now, groupExpiryMs) and returns the rest. */
export const GROUP_MEMBERS: Script = new Script(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
return redis.call('ZRANGE', KEYS[1], 0, -1)
`);

/** Adds ARGV[2] to group KEYS[1] with score ARGV[1] and sets the group TTL to ARGV[3] ms. */
export const GROUP_ADD: Script = new Script(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`);

/**
 * Group send in one round trip (single host): trims and reads group KEYS[1], bundles members by
 * destination key (one entry per process inbox, listing its member channels) and stores the
 * entries. ARGV: now, expiryMs, groupExpiryMs, keyPrefix, header, payload, inboxCapacity,
 * defaultCapacity, ruleCount, then pairs (Lua pattern, capacity). Returns {destinations, full}.
 */
export const GROUP_SEND: Script = new Script(`${DELIVER_BODY}
local now = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local prefix = ARGV[4]
local rules = tonumber(ARGV[9])
local function capacity(name)
  if string.sub(name, -1) == '!' then return tonumber(ARGV[7]) end
  for i = 1, rules do
    if string.find(name, ARGV[8 + 2 * i]) then return tonumber(ARGV[9 + 2 * i]) end
  end
  return tonumber(ARGV[8])
end
local buckets = {}
local order = {}
for _, channel in ipairs(members) do
  local bang = string.find(channel, '!', 1, true)
  local owner = channel
  if bang then owner = string.sub(channel, 1, bang) end
  local bucket = buckets[owner]
  if not bucket then
    bucket = {}
    buckets[owner] = bucket
    order[#order + 1] = owner
  end
  if bang then bucket[#bucket + 1] = channel end
end
local full = 0
for _, owner in ipairs(order) do
  local bucket = buckets[owner]
  local targets = '[]'
  if #bucket > 0 then targets = '["' .. table.concat(bucket, '","') .. '"]' end
  if not deliver(prefix .. owner, now, expiry, capacity(owner), ARGV[5] .. targets .. '\\n' .. ARGV[6]) then
    full = full + 1
  end
end
return {#order, full}
`);

/**
 * Pops without blocking: for each of KEYS up to ARGV[i] entries (ZPOPMIN). Returns a flat list
 * key, member, score, key, member, score, ...
 */
export const READ: Script = new Script(`
local out = {}
for i, key in ipairs(KEYS) do
  local n = tonumber(ARGV[i])
  if n > 0 then
    local popped = redis.call('ZPOPMIN', key, n)
    for j = 1, #popped, 2 do
      out[#out + 1] = key
      out[#out + 1] = popped[j]
      out[#out + 1] = popped[j + 1]
    end
  end
end
return out
`);

/** Converts a capacity glob (`*`, `?`, `[...]`) to an anchored Lua pattern. */
export function globToLuaPattern(glob: string): string {
  let out = "^";
  for (const ch of glob) {
    if (ch === "*") out += ".*";
    else if (ch === "?") out += ".";
    else if (ch === "[" || ch === "]") out += ch;
    else if (/[\^$()%.+\-]/.test(ch)) out += "%" + ch;
    else out += ch;
  }
  return out + "$";
}
