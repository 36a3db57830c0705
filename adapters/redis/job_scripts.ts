/**
 * Lua scripts of the Redis job queue: every state change of a job is one atomic script, timed
 * by the Redis server clock (`TIME`) so leases, delays and status do not depend on any process's
 * clock.
 *
 * Every key a script touches is declared in `KEYS` (Redis Cluster needs it; put a hash tag such
 * as `{jobs}` in the prefix there so all of a queue's keys share one slot). Scripts that would
 * otherwise derive a job key from an id they read (claiming the head of the ready list, reaping
 * expired leases) are split in two: one reads the id, the next one names the key and re-checks
 * that the id is still where it was. Keys, under the queue prefix `<p>`:
 *
 * - `<p>:ready` LIST of job ids ready to run (FIFO; released jobs go to the front),
 * - `<p>:delayed` ZSET id → run-at ms (delays and retry backoff),
 * - `<p>:running` ZSET id → lease expiry ms,
 * - `<p>:wake` LIST of wake-up tokens workers block on (BLPOP): the id of the job that became
 *   ready (a hint for the claim that follows); emptied when `ready` is,
 * - `<p>:job:<id>` HASH name, args, state, enqueuedAt, runAt, tries, maxTries, timeout,
 *   token, startedAt, result, error, finishedAt (expires `keepResultMs` after finishing),
 * - `<p>:job:<id>:waiters` SET of the events channels of producers waiting in `result()`; when
 *   the job finishes, its outcome is published to each of them (one JSON message) and the set
 *   is deleted. Each producer (queue instance) has its own channel `<p>:events:<instanceId>`,
 *   so a process receives only the results it waits for.
 *
 * A job in `ready` whose hash still says `delayed` was promoted by `CLAIM` (promotion does not
 * touch the hash, whose key is not known in advance); it is ready once `runAt` has passed.
 *
 * @module
 */
import { Script } from "./scripts.ts";

const HEAD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function owned(key, token)
  local f = redis.call('HMGET', key, 'state', 'token')
  return f[1] == 'running' and f[2] == token
end
local function keep(key, ms)
  if ms > 0 then redis.call('PEXPIRE', key, ms) else redis.call('DEL', key) end
end
local function announce(waiters, message)
  for _, channel in ipairs(redis.call('SMEMBERS', waiters)) do
    redis.call('PUBLISH', channel, message)
  end
  redis.call('DEL', waiters)
end
local function failed(running, id, key, waiters, err, keepMs)
  redis.call('ZREM', running, id)
  redis.call('HSET', key, 'state', 'failed', 'error', err, 'finishedAt', now)
  redis.call('HDEL', key, 'token')
  local tries = tonumber(redis.call('HGET', key, 'tries'))
  keep(key, keepMs)
  announce(waiters, cjson.encode({id = id, state = 'failed', error = err, attempts = tries}))
end
local function wakeOne(wake, id)
  redis.call('RPUSH', wake, id)
  redis.call('LTRIM', wake, -1000, -1)
end
`;

/**
 * Enqueues a job unless one with the id is queued, delayed or running.
 * KEYS: ready, delayed, wake, job. ARGV: id, name, argsJson, delayMs, maxTries, timeoutMs ('' for
 * none). Returns `{1, name}` when enqueued, `{0, existingName}` when the id is taken.
 */
export const ENQUEUE: Script = new Script(`${HEAD}
local ready, delayed, wake, key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id = ARGV[1]
local st = redis.call('HGET', key, 'state')
if st == 'queued' or st == 'delayed' or st == 'running' then
  return {0, redis.call('HGET', key, 'name')}
end
redis.call('DEL', key)
local delay = tonumber(ARGV[4])
local state = 'queued'
if delay > 0 then state = 'delayed' end
redis.call('HSET', key, 'name', ARGV[2], 'args', ARGV[3], 'state', state, 'enqueuedAt', now,
  'runAt', now + delay, 'tries', 0, 'maxTries', ARGV[5], 'timeout', ARGV[6])
if delay > 0 then
  redis.call('ZADD', delayed, now + delay, id)
else
  redis.call('RPUSH', ready, id)
end
wakeOne(wake, id)
return {1, ARGV[2]}
`);

/**
 * Promotes due delayed jobs, then leases the job `expectedId` if it is still at the head of the
 * ready list. KEYS: ready, delayed, running, wake, then the job key of `expectedId` when one is
 * given. ARGV: token, leaseMs, expectedId ('' to only look).
 * Returns `{1, id, name, args, tries, maxTries, timeout, enqueuedAt, nextHeadId | ''}` when claimed,
 * `{2, headId}` when the caller should try again with the id now at the head, or
 * `{0, msUntilNextDelayedJob | -1}` when nothing is ready.
 */
export const CLAIM: Script = new Script(`${HEAD}
local ready, delayed, running, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(due) do
  redis.call('ZREM', delayed, id)
  redis.call('RPUSH', ready, id)
  wakeOne(wake, id)
end
local expected = ARGV[3]
if expected ~= '' and redis.call('LINDEX', ready, 0) == expected then
  redis.call('LPOP', ready)
  local key = KEYS[5]
  local f = redis.call('HMGET', key, 'state', 'runAt')
  if f[1] == 'queued' or (f[1] == 'delayed' and tonumber(f[2]) <= now) then
    local tries = redis.call('HINCRBY', key, 'tries', 1)
    redis.call('HSET', key, 'state', 'running', 'token', ARGV[1], 'startedAt', now)
    redis.call('ZADD', running, now + tonumber(ARGV[2]), expected)
    if redis.call('LLEN', ready) == 0 then redis.call('DEL', wake) end
    local g = redis.call('HMGET', key, 'name', 'args', 'maxTries', 'timeout', 'enqueuedAt')
    return {1, expected, g[1], g[2], tries, g[3], g[4], g[5], redis.call('LINDEX', ready, 0) or ''}
  end
  -- A stale entry (the job is gone, finished or running elsewhere): dropped.
end
local head = redis.call('LINDEX', ready, 0)
if head then return {2, head} end
redis.call('DEL', wake)
local nxt = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if #nxt == 0 then return {0, -1} end
return {0, math.max(0, tonumber(nxt[2]) - now)}
`);

/**
 * Extends leases. KEYS: running, then one job key per lease. ARGV: leaseMs, then one id, token
 * pair per lease. Returns the 1-based indexes of the leases that were lost.
 */
export const RENEW: Script = new Script(`${HEAD}
local running = KEYS[1]
local lost = {}
local lease = tonumber(ARGV[1])
for i = 2, #KEYS do
  local id = ARGV[2 * i - 2]
  if owned(KEYS[i], ARGV[2 * i - 1]) then
    redis.call('ZADD', running, 'XX', now + lease, id)
  else
    lost[#lost + 1] = i - 1
  end
end
return lost
`);

/**
 * Completes a job. KEYS: running, job, waiters. ARGV: id, token, resultJson, keepResultMs.
 * Returns 1, or 0 when the token does not own the job.
 */
export const COMPLETE: Script = new Script(`${HEAD}
local running, key, waiters = KEYS[1], KEYS[2], KEYS[3]
local id = ARGV[1]
if not owned(key, ARGV[2]) then return 0 end
redis.call('ZREM', running, id)
redis.call('HSET', key, 'state', 'completed', 'result', ARGV[3], 'finishedAt', now)
redis.call('HDEL', key, 'token')
local tries = tonumber(redis.call('HGET', key, 'tries'))
keep(key, tonumber(ARGV[4]))
announce(waiters, '{"id":' .. cjson.encode(id) .. ',"state":"completed","attempts":' ..
  tries .. ',"result":' .. ARGV[3] .. '}')
return 1
`);

/** Fails a job for good. KEYS: running, job, waiters. ARGV: id, token, error, keepResultMs. */
export const FAIL: Script = new Script(`${HEAD}
local running, key, waiters = KEYS[1], KEYS[2], KEYS[3]
if not owned(key, ARGV[2]) then return 0 end
failed(running, ARGV[1], key, waiters, ARGV[3], tonumber(ARGV[4]))
return 1
`);

/**
 * Schedules another try. KEYS: ready, delayed, running, wake, job. ARGV: id, token, error,
 * delayMs. Returns 1 or 0.
 */
export const RETRY: Script = new Script(`${HEAD}
local ready, delayed, running, wake, key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id = ARGV[1]
if not owned(key, ARGV[2]) then return 0 end
redis.call('ZREM', running, id)
redis.call('HDEL', key, 'token')
local delay = tonumber(ARGV[4])
if delay > 0 then
  redis.call('HSET', key, 'state', 'delayed', 'runAt', now + delay, 'error', ARGV[3])
  redis.call('ZADD', delayed, now + delay, id)
else
  redis.call('HSET', key, 'state', 'queued', 'runAt', now, 'error', ARGV[3])
  redis.call('RPUSH', ready, id)
end
wakeOne(wake, id)
return 1
`);

/**
 * Returns a running job to the front of the queue without counting the try.
 * KEYS: ready, running, wake, job. ARGV: id, token. Returns 1 or 0.
 */
export const RELEASE: Script = new Script(`${HEAD}
local ready, running, wake, key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id = ARGV[1]
if not owned(key, ARGV[2]) then return 0 end
redis.call('ZREM', running, id)
redis.call('HDEL', key, 'token')
redis.call('HINCRBY', key, 'tries', -1)
redis.call('HSET', key, 'state', 'queued', 'runAt', now)
redis.call('LPUSH', ready, id)
wakeOne(wake, id)
return 1
`);

/** The ids (at most 100) whose lease expired. KEYS: running. */
export const EXPIRED: Script = new Script(`${HEAD}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
`);

/**
 * Returns a running job whose lease expired to the queue, or fails it when no tries are left;
 * does nothing when its lease was renewed meanwhile. KEYS: ready, running, wake, job, waiters.
 * ARGV: id, keepResultMs. Returns 1 when the job was handled, else 0.
 */
export const REAP: Script = new Script(`${HEAD}
local ready, running, wake, key, waiters = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id = ARGV[1]
local until_ = redis.call('ZSCORE', running, id)
if not until_ or tonumber(until_) > now then return 0 end
local f = redis.call('HMGET', key, 'state', 'tries', 'maxTries')
if f[1] ~= 'running' then
  redis.call('ZREM', running, id)
elseif tonumber(f[2]) >= tonumber(f[3]) then
  failed(running, id, key, waiters, 'Lease expired (worker lost) on try ' .. f[2], tonumber(ARGV[2]))
else
  redis.call('ZREM', running, id)
  redis.call('HDEL', key, 'token')
  redis.call('HSET', key, 'state', 'queued', 'runAt', now)
  redis.call('RPUSH', ready, id)
  wakeOne(wake, id)
end
return 1
`);

/**
 * Where a job is, on Redis time (a due `delayed` job is `queued`), with its result or error when
 * it finished. When `channel` is given and the job has not finished, registers the channel as a
 * waiter (the set expires after `waiterTtlMs` unless registered again). KEYS: job, waiters.
 * ARGV: channel ('' for none), waiterTtlMs.
 * Returns `{state | '', tries, result, error}` ('' when there is no such job).
 */
export const STATUS: Script = new Script(`${HEAD}
local key, waiters = KEYS[1], KEYS[2]
local f = redis.call('HMGET', key, 'state', 'runAt', 'tries', 'result', 'error')
local state = f[1]
if not state then return {''} end
if state == 'completed' or state == 'failed' then
  return {state, f[3], f[4] or '', f[5] or ''}
end
if state == 'delayed' and tonumber(f[2]) <= now then state = 'queued' end
if ARGV[1] ~= '' then
  redis.call('SADD', waiters, ARGV[1])
  redis.call('PEXPIRE', waiters, tonumber(ARGV[2]))
end
return {state, f[3], '', ''}
`);
