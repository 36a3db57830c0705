/**
 * Lua scripts of the Redis queue layer, run with EVALSHA (EVAL on NOSCRIPT).
 *
 * A stored queue entry (a sorted-set member, score = send time in epoch ms, Redis time) is
 * `<12-char base36 sequence><8-char sender token><JSON array of target channels>\n<payload>`.
 * The header keeps members unique and, within one millisecond, in the sender's order.
 *
 * Every key a script touches is declared in KEYS, except the destination keys of GROUP_SEND
 * (see there). Times come from the Redis server (`TIME`), never from the calling process.
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
  #known: string | undefined;
  #clusterSource: string | undefined;

  /** Wraps a Lua source. */
  constructor(source: string) {
    this.source = source;
  }

  /** The SHA-1 hex digest EVALSHA needs. */
  sha(): Promise<string> {
    this.#sha ??= crypto.subtle.digest("SHA-1", new TextEncoder().encode(this.source)).then(
      (d) =>
        this.#known = [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join(""),
    );
    return this.#sha;
  }

  /**
   * Resolves once the SHA-1 is known: from then on {@linkcode run} hands its command to the
   * client synchronously, so calls issued one after another reach Redis in that order.
   */
  async ready(): Promise<void> {
    await this.sha();
  }

  /**
   * Runs the script on `client` (queued on the connection at once when {@linkcode ready}).
   *
   * The first call on a connection (and the first after each reconnect: a restarted Redis has
   * an empty script cache) sends the source with EVAL; later ones EVALSHA. Retrying a NOSCRIPT
   * reply with EVAL would let commands issued after it overtake it, so that only happens when
   * the cache was emptied behind the connection's back (SCRIPT FLUSH).
   */
  run(client: RedisClientLike, keys: string[], args: string[]): Promise<unknown> {
    const sha = this.#known;
    if (sha === undefined) return this.sha().then(() => this.run(client, keys, args));
    if ((client as { isCluster?: boolean }).isCluster) {
      // Each node (and a replica promoted after a failover) has its own script cache: EVAL
      // always, so that no NOSCRIPT retry lets a later command overtake this one. Pub/sub on a
      // cluster is sharded: a script publishes with SPUBLISH (to a channel of its keys' slot).
      this.#clusterSource ??= this.source.replaceAll(
        "redis.call('PUBLISH',",
        "redis.call('SPUBLISH',",
      );
      return client.sendCommand([
        "EVAL",
        this.#clusterSource,
        String(keys.length),
        ...keys,
        ...args,
      ]);
    }
    const scripts = loadedOn(client);
    if (!scripts.has(sha)) {
      const reply = client.sendCommand([
        "EVAL",
        this.source,
        String(keys.length),
        ...keys,
        ...args,
      ]);
      reply.then(() => scripts.add(sha), () => {});
      return reply;
    }
    const reply = client.sendCommand(["EVALSHA", sha, String(keys.length), ...keys, ...args]);
    return reply.catch((error) => {
      if (!String((error as Error)?.message ?? error).includes("NOSCRIPT")) throw error;
      scripts.delete(sha);
      return client.sendCommand(["EVAL", this.source, String(keys.length), ...keys, ...args]);
    });
  }
}

/** SHA-1s of the scripts each connection has loaded since it last (re)connected. */
const loadedScripts = new WeakMap<RedisClientLike, Set<string>>();

function loadedOn(client: RedisClientLike): Set<string> {
  let scripts = loadedScripts.get(client);
  if (!scripts) {
    const fresh = new Set<string>();
    loadedScripts.set(client, scripts = fresh);
    // A (re)connect may reach a restarted Redis, whose script cache is empty.
    client.on("ready", () => fresh.clear());
  }
  return scripts;
}

/** Lua: the Redis server's clock in epoch ms (every score and trim uses it, never a process's). */
const REDIS_NOW = `
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

const DELIVER_BODY = `${REDIS_NOW}
local function deliver(key, now, expiry, cap, member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - expiry)
  if redis.call('ZCARD', key) >= cap then return false end
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, expiry)
  return true
end
`;

/**
 * Stores one entry in each of KEYS unless that key is at capacity, scored with Redis time.
 * ARGV: expiryMs, header, payload, then per key: capacity, targets JSON.
 * Returns the 1-based indexes of the keys that were full.
 */
export const DELIVER: Script = new Script(`${DELIVER_BODY}
local now = redis_now()
local expiry = tonumber(ARGV[1])
local full = {}
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[2 + 2 * i])
  if not deliver(key, now, expiry, cap, ARGV[2] .. ARGV[3 + 2 * i] .. '\\n' .. ARGV[3]) then
    full[#full + 1] = i
  end
end
return full
`);

/** Trims members of group KEYS[1] older than ARGV[1] ms (Redis time) and returns the rest. */
export const GROUP_MEMBERS: Script = new Script(`${REDIS_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', redis_now() - tonumber(ARGV[1]))
return redis.call('ZRANGE', KEYS[1], 0, -1)
`);

/**
 * Adds (or renews) ARGV[2..] in group KEYS[1], scored with Redis time, and sets the group TTL to
 * ARGV[1] ms. Returns the number of members given.
 */
export const GROUP_ADD: Script = new Script(`${REDIS_NOW}
local now = redis_now()
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return #ARGV - 1
`);

/**
 * Group send in one round trip (single host): trims and reads group KEYS[1], bundles members by
 * destination key (one entry per process inbox, listing its member channels) and stores the
 * entries. ARGV: expiryMs, groupExpiryMs, keyPrefix, header, payload, inboxCapacity,
 * defaultCapacity, ruleCount, then pairs (Lua pattern, capacity). Returns {destinations, full}.
 *
 * The destination keys (`<keyPrefix><owner>`) are computed here from the members, which are
 * data: they cannot be declared in KEYS without a second round trip. That is correct on a
 * standalone Redis (the layer only uses this script with one host); a Redis Cluster layer must
 * use the two-step path instead (GROUP_MEMBERS, then DELIVER with declared KEYS per node), as the
 * layer already does with several hosts. A common hash tag would put every key of the prefix on
 * one slot, which defeats sharding.
 */
export const GROUP_SEND: Script = new Script(`${DELIVER_BODY}
local now = redis_now()
local expiry = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local prefix = ARGV[3]
local rules = tonumber(ARGV[8])
local function capacity(name)
  if string.sub(name, -1) == '!' then return tonumber(ARGV[6]) end
  for i = 1, rules do
    if string.find(name, ARGV[7 + 2 * i]) then return tonumber(ARGV[8 + 2 * i]) end
  end
  return tonumber(ARGV[7])
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
  if not deliver(prefix .. owner, now, expiry, capacity(owner), ARGV[4] .. targets .. '\\n' .. ARGV[5]) then
    full = full + 1
  end
end
return {#order, full}
`);

/**
 * Pops without blocking: for each of KEYS up to ARGV[i] entries (ZPOPMIN). Returns the Redis
 * time (epoch ms) and then a flat list key, member, score, key, member, score, ... so that the
 * reader measures each entry's age on the Redis clock.
 */
export const READ: Script = new Script(`${REDIS_NOW}
local out = {redis_now()}
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
