/**
 * Lua scripts of the Redis job queue: every state change of a job is one atomic script, timed
 * by the Redis server clock (`TIME`) so leases do not depend on the workers' clocks.
 *
 * Every script takes `KEYS = [ready, delayed, running, wake]` and
 * `ARGV = [jobKeyPrefix, eventsChannel, …]`:
 *
 * - `<prefix>:ready` LIST of job ids ready to run (FIFO; released jobs go to the front),
 * - `<prefix>:delayed` ZSET id → run-at ms (delays and retry backoff),
 * - `<prefix>:running` ZSET id → lease expiry ms,
 * - `<prefix>:wake` LIST of wake-up tokens workers block on (BLPOP); emptied when `ready` is,
 * - `<prefix>:job:<id>` HASH name, args, state, enqueuedAt, runAt, tries, maxTries, timeout,
 *   token, startedAt, result, error, finishedAt (expires `keepResultMs` after finishing),
 * - `<prefix>:events` pub/sub channel: one JSON message per finished job.
 *
 * @module
 */
import { Script } from "./scripts.ts";

const HEAD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ready, delayed, running, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local jp, events = ARGV[1], ARGV[2]
local function owned(key, token)
  local f = redis.call('HMGET', key, 'state', 'token')
  return f[1] == 'running' and f[2] == token
end
local function keep(key, ms)
  if ms > 0 then redis.call('PEXPIRE', key, ms) else redis.call('DEL', key) end
end
local function failed(id, key, err, keepMs)
  redis.call('ZREM', running, id)
  redis.call('HSET', key, 'state', 'failed', 'error', err, 'finishedAt', now)
  redis.call('HDEL', key, 'token')
  local tries = tonumber(redis.call('HGET', key, 'tries'))
  keep(key, keepMs)
  redis.call('PUBLISH', events, cjson.encode({id = id, state = 'failed', error = err, attempts = tries}))
end
local function wakeOne()
  redis.call('RPUSH', wake, '1')
  redis.call('LTRIM', wake, -1000, -1)
end
`;

/**
 * Enqueues a job unless one with the id is queued, delayed or running.
 * ARGV[3..8]: id, name, argsJson, delayMs, maxTries, timeoutMs ('' for none).
 * Returns `{1, name}` when enqueued, `{0, existingName}` when the id is taken.
 */
export const ENQUEUE: Script = new Script(`${HEAD}
local id = ARGV[3]
local key = jp .. id
local st = redis.call('HGET', key, 'state')
if st == 'queued' or st == 'delayed' or st == 'running' then
  return {0, redis.call('HGET', key, 'name')}
end
redis.call('DEL', key)
local delay = tonumber(ARGV[6])
local state = 'queued'
if delay > 0 then state = 'delayed' end
redis.call('HSET', key, 'name', ARGV[4], 'args', ARGV[5], 'state', state, 'enqueuedAt', now,
  'runAt', now + delay, 'tries', 0, 'maxTries', ARGV[7], 'timeout', ARGV[8])
if delay > 0 then
  redis.call('ZADD', delayed, now + delay, id)
else
  redis.call('RPUSH', ready, id)
end
wakeOne()
return {1, ARGV[4]}
`);

/**
 * Promotes due delayed jobs, then leases the first ready job.
 * ARGV[3..4]: token, leaseMs.
 * Returns `{1, id, name, args, tries, maxTries, timeout, enqueuedAt}` or
 * `{0, msUntilNextDelayedJob | -1}`.
 */
export const CLAIM: Script = new Script(`${HEAD}
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(due) do
  redis.call('ZREM', delayed, id)
  redis.call('HSET', jp .. id, 'state', 'queued')
  redis.call('RPUSH', ready, id)
  wakeOne()
end
while true do
  local id = redis.call('LPOP', ready)
  if not id then break end
  local key = jp .. id
  if redis.call('HGET', key, 'state') == 'queued' then
    local tries = redis.call('HINCRBY', key, 'tries', 1)
    redis.call('HSET', key, 'state', 'running', 'token', ARGV[3], 'startedAt', now)
    redis.call('ZADD', running, now + tonumber(ARGV[4]), id)
    if redis.call('LLEN', ready) == 0 then redis.call('DEL', wake) end
    local f = redis.call('HMGET', key, 'name', 'args', 'maxTries', 'timeout', 'enqueuedAt')
    return {1, id, f[1], f[2], tries, f[3], f[4], f[5]}
  end
end
redis.call('DEL', wake)
local nxt = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if #nxt == 0 then return {0, -1} end
return {0, math.max(0, tonumber(nxt[2]) - now)}
`);

/**
 * Extends leases. ARGV[3]: leaseMs, then id, token pairs. Returns the ids whose lease was lost.
 */
export const RENEW: Script = new Script(`${HEAD}
local lost = {}
local lease = tonumber(ARGV[3])
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  if owned(jp .. id, ARGV[i + 1]) then
    redis.call('ZADD', running, 'XX', now + lease, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
`);

/**
 * Completes a job. ARGV[3..6]: id, token, resultJson, keepResultMs. Returns 1, or 0 when the
 * token does not own the job.
 */
export const COMPLETE: Script = new Script(`${HEAD}
local id = ARGV[3]
local key = jp .. id
if not owned(key, ARGV[4]) then return 0 end
redis.call('ZREM', running, id)
redis.call('HSET', key, 'state', 'completed', 'result', ARGV[5], 'finishedAt', now)
redis.call('HDEL', key, 'token')
local tries = tonumber(redis.call('HGET', key, 'tries'))
keep(key, tonumber(ARGV[6]))
redis.call('PUBLISH', events, '{"id":' .. cjson.encode(id) .. ',"state":"completed","attempts":' ..
  tries .. ',"result":' .. ARGV[5] .. '}')
return 1
`);

/** Fails a job for good. ARGV[3..6]: id, token, error, keepResultMs. Returns 1 or 0. */
export const FAIL: Script = new Script(`${HEAD}
local id = ARGV[3]
local key = jp .. id
if not owned(key, ARGV[4]) then return 0 end
failed(id, key, ARGV[5], tonumber(ARGV[6]))
return 1
`);

/** Schedules another try. ARGV[3..6]: id, token, error, delayMs. Returns 1 or 0. */
export const RETRY: Script = new Script(`${HEAD}
local id = ARGV[3]
local key = jp .. id
if not owned(key, ARGV[4]) then return 0 end
redis.call('ZREM', running, id)
redis.call('HDEL', key, 'token')
local delay = tonumber(ARGV[6])
if delay > 0 then
  redis.call('HSET', key, 'state', 'delayed', 'runAt', now + delay, 'error', ARGV[5])
  redis.call('ZADD', delayed, now + delay, id)
else
  redis.call('HSET', key, 'state', 'queued', 'runAt', now, 'error', ARGV[5])
  redis.call('RPUSH', ready, id)
end
wakeOne()
return 1
`);

/**
 * Returns a running job to the front of the queue without counting the try.
 * ARGV[3..4]: id, token. Returns 1 or 0.
 */
export const RELEASE: Script = new Script(`${HEAD}
local id = ARGV[3]
local key = jp .. id
if not owned(key, ARGV[4]) then return 0 end
redis.call('ZREM', running, id)
redis.call('HDEL', key, 'token')
redis.call('HINCRBY', key, 'tries', -1)
redis.call('HSET', key, 'state', 'queued', 'runAt', now)
redis.call('LPUSH', ready, id)
wakeOne()
return 1
`);

/**
 * Returns running jobs whose lease expired to the queue, or fails them when no tries are left.
 * ARGV[3]: keepResultMs. Returns how many jobs were handled.
 */
export const REAP: Script = new Script(`${HEAD}
local ids = redis.call('ZRANGEBYSCORE', running, '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(ids) do
  local key = jp .. id
  local f = redis.call('HMGET', key, 'state', 'tries', 'maxTries')
  if f[1] ~= 'running' then
    redis.call('ZREM', running, id)
  elseif tonumber(f[2]) >= tonumber(f[3]) then
    failed(id, key, 'Lease expired (worker lost) on try ' .. f[2], tonumber(ARGV[3]))
  else
    redis.call('ZREM', running, id)
    redis.call('HDEL', key, 'token')
    redis.call('HSET', key, 'state', 'queued', 'runAt', now)
    redis.call('RPUSH', ready, id)
    wakeOne()
  end
end
return #ids
`);
