/**
 * Lua scripts of the Redis presence backend: one script per change (track, untrack, heartbeat,
 * sweep), each publishing its own diff, so a change and its diff are one atomic step. Times come
 * from the Redis server (`TIME`), never from a process.
 *
 * Keys of a group `g` (under `prefix`): `<prefix>:presence:{g}:z`, a sorted set of connections
 * (member `ref|key`, score = expiry in epoch ms) and `<prefix>:presence:{g}:h`, a hash key →
 * JSON object `{ref: "<meta JSON>"}`. The index `<prefix>:presence:index` is a sorted set of
 * groups scored by the earliest time a sweep may find an expired member there. Diffs go to the
 * pub/sub channel `<prefix>:presence:diff:<g>` as `{"g": group, "j"?: {key: [meta JSON]},
 * "l"?: {key: [meta JSON]}}`.
 *
 * On a Redis Cluster the index is one per hash slot and the channel a shard channel of the
 * group's slot (`presence_keys.ts`): every script touches keys of one slot, and `Script.run`
 * publishes with SPUBLISH there.
 *
 * @module
 */
import { Script } from "./scripts.ts";

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** Removes member `ref|key` from the hash; returns the meta text when it was the key's last. */
const REMOVE = `
local function remove(h, ref, key)
  local raw = redis.call('HGET', h, key)
  if not raw then return nil end
  local metas = cjson.decode(raw)
  local meta = metas[ref]
  metas[ref] = nil
  if next(metas) == nil then
    redis.call('HDEL', h, key)
    return meta or '{}'
  end
  redis.call('HSET', h, key, cjson.encode(metas))
  return nil
end
`;

/**
 * KEYS z, h, index; ARGV ref, key, meta, expiry after now (ms), channel, group. Returns 1 for a
 * join, plus 2 when the group was not in the index (on a cluster: list the index's slot).
 */
export const TRACK: Script = new Script(`${NOW}
local exp = now + tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], exp, ARGV[1] .. '|' .. ARGV[2])
local raw = redis.call('HGET', KEYS[2], ARGV[2])
local metas = {}
if raw then metas = cjson.decode(raw) end
metas[ARGV[1]] = ARGV[3]
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(metas))
local due = redis.call('ZSCORE', KEYS[3], ARGV[6])
local fresh = 0
if not due then fresh = 2 end
if not due or tonumber(due) > exp then redis.call('ZADD', KEYS[3], exp, ARGV[6]) end
if raw then return fresh end
local j = {}
j[ARGV[2]] = { ARGV[3] }
redis.call('PUBLISH', ARGV[5], cjson.encode({ g = ARGV[6], j = j }))
return fresh + 1
`);

/** KEYS z, h, index; ARGV ref, key, channel, group. 1 = a leave. */
export const UNTRACK: Script = new Script(`${REMOVE}
if redis.call('ZREM', KEYS[1], ARGV[1] .. '|' .. ARGV[2]) == 0 then return 0 end
local meta = remove(KEYS[2], ARGV[1], ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[4])
  redis.call('DEL', KEYS[2])
end
if not meta then return 0 end
local l = {}
l[ARGV[2]] = { meta }
redis.call('PUBLISH', ARGV[3], cjson.encode({ g = ARGV[4], l = l }))
return 1
`);

/** KEYS z; ARGV expiry after now (ms), members… Returns the members that are gone (re-track them). */
export const HEARTBEAT: Script = new Script(`${NOW}
local exp = now + tonumber(ARGV[1])
local missing = {}
for i = 2, #ARGV do
  if not redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    missing[#missing + 1] = ARGV[i]
  else
    redis.call('ZADD', KEYS[1], 'XX', exp, ARGV[i])
  end
end
return missing
`);

/** KEYS index; ARGV limit. The groups a sweep may find expired members in. */
export const DUE: Script = new Script(`${NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
`);

/**
 * KEYS z, h, index; ARGV limit, channel, group. Removes up to `limit` expired members, publishes
 * one diff with the keys that left, and re-scores the group in the index. Returns the count.
 */
export const SWEEP: Script = new Script(`${NOW}${REMOVE}
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local leaves = {}
local n = 0
for _, member in ipairs(expired) do
  redis.call('ZREM', KEYS[1], member)
  local sep = string.find(member, '|', 1, true)
  local ref = string.sub(member, 1, sep - 1)
  local key = string.sub(member, sep + 1)
  local meta = remove(KEYS[2], ref, key)
  if meta then
    leaves[key] = { meta }
    n = n + 1
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then
  redis.call('ZADD', KEYS[3], first[2], ARGV[3])
else
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('DEL', KEYS[2])
end
if n > 0 then redis.call('PUBLISH', ARGV[2], cjson.encode({ g = ARGV[3], l = leaves })) end
return #expired
`);

/**
 * KEYS slot leases (cluster); ARGV slots… Lists each slot, scored with the Redis time of this
 * listing (its lease starts now).
 */
export const LIST_SLOTS: Script = new Script(`${NOW}
for i = 1, #ARGV do redis.call('ZADD', KEYS[1], now, ARGV[i]) end
return #ARGV
`);

/**
 * KEYS slot leases (cluster); ARGV slot, lease (ms). Unlists the slot only when it was last
 * listed more than a lease ago (by this node's clock, the one that scored it). 1 = unlisted.
 */
export const UNLIST_SLOT: Script = new Script(`${NOW}
local listed = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not listed then return 0 end
if tonumber(listed) > now - tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`);
