/**
 * {@linkcode RedisJobQueue} under faults and in its Redis usage, each on a private
 * `redis-server` (killed, restarted empty, or reached through TCP relays that cut one connection
 * at a time): lost jobs, typed unavailability, re-checks of waited jobs after reconnects in either
 * order, per-producer result channels, keys declared to every script, and Redis time in
 * `status()`. Nothing here sleeps or polls: each test awaits what the queue, the worker or Redis
 * tells (`onEvent`, Redis timing out a BLPOP on its own clock).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createClient } from "redis";
import { RedisJobQueue } from "../../adapters/redis/job_queue.ts";
import * as scripts from "../../adapters/redis/job_scripts.ts";
import type { RedisClientLike } from "../../adapters/redis/redis_client.ts";
import type { Script } from "../../adapters/redis/scripts.ts";
import {
  JobLostError,
  JobQueueUnavailableError,
  LayerUnavailableError,
  memoryLogger,
  setLogger,
} from "../../mod.ts";
import type { RedisJobQueueEvent } from "../../adapters/redis/job_events.ts";
import { Worker, type WorkerEvent } from "../../src/jobs/worker.ts";
import { hasRedisServer, RedisServer } from "../helpers/redis_servers.ts";
import { TcpRelay } from "../helpers/tcp_relay.ts";
import { eventLog } from "../helpers/event_log.ts";
import { BOUND_MS, deferred, quietLogs, within } from "./contract.ts";

const SKIP = (await hasRedisServer()) ? false : "redis-server is not installed";
quietLogs();

const FAST = { minDelayMs: 10, maxDelayMs: 100 };

/** A plain client of `url` for looking at Redis from the side. */
async function admin(url: string) {
  const client = createClient({ url });
  client.on("error", () => {});
  await client.connect();
  return client;
}

/**
 * Resolves once `ms` have passed on Redis's own clock (the one leases, delays and `status()` use):
 * Redis times out a BLPOP on a key nobody pushes to. What is awaited is that clock itself.
 */
async function redisClockPasses(
  client: { sendCommand(args: string[]): Promise<unknown> },
  key: string,
  ms: number,
): Promise<void> {
  assert.equal(await client.sendCommand(["BLPOP", key, (ms / 1000).toFixed(3)]), null);
}

/** The queue's events, and a wait for the registration of a `result()` wait on `id`. */
function queueEvents(queue: RedisJobQueue) {
  const log = eventLog<RedisJobQueueEvent>(queue);
  const registered = (id: string) =>
    log.next((e) => e.type === "waiting" && e.jobId === id, `result() of ${id} registered`);
  return { log, registered };
}

Deno.test({
  name:
    "RedisJobQueue: result() of a job lost with Redis's data rejects with JobLostError; the queue works again",
  ignore: SKIP !== false,
  async fn() {
    const server = await new RedisServer().start();
    const prefix = "lost";
    const queue = new RedisJobQueue({ url: server.url, prefix, backoff: FAST });
    const { log, registered } = queueEvents(queue);
    try {
      const job = await queue.enqueue("never", []);
      const waiting = job.result();
      waiting.catch(() => {});
      await registered(job.id);
      await server.restart(); // no persistence: the job is gone
      await assert.rejects(within(waiting, BOUND_MS, "result() settles"), (e) => {
        assert.ok(e instanceof JobLostError, String(e));
        assert.equal(e.jobId, job.id);
        return true;
      });
      // Restored: the re-check that found the job gone ran on the command connection, so
      // enqueue works at once; new jobs run and their results arrive.
      assert.ok(log.seen.some((e) => e.type === "reconnected"), "a connection came back");
      const again = await queue.enqueue("echo", ["back"]);
      const counts = await new Worker(queue, { functions: { echo: (_c, v) => v } }).runBurst();
      assert.equal(counts.completed, 1);
      assert.equal(await within(again.result(), BOUND_MS, "result"), "back");
    } finally {
      log.stop();
      await queue.close();
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "RedisJobQueue: a waited job deleted without any reconnect is found lost by the periodic re-check",
  ignore: SKIP !== false,
  async fn() {
    const server = await new RedisServer().start();
    const prefix = "vanish";
    const queue = new RedisJobQueue({ url: server.url, prefix, resultRecheckMs: 50 });
    const { log, registered } = queueEvents(queue);
    const side = await admin(server.url);
    try {
      const job = await queue.enqueue("never", []);
      const waiting = job.result();
      waiting.catch(() => {});
      await registered(job.id);
      assert.equal(await side.sCard(`${prefix}:job:${job.id}:waiters`), 1, "registered");
      await side.del(`${prefix}:job:${job.id}`);
      await assert.rejects(within(waiting, BOUND_MS, "result() settles"), JobLostError);
      await log.next((e) => e.type === "rechecked", "found by a re-check");
      assert.ok(!log.seen.some((e) => e.type === "reconnected"), "without any reconnect");
    } finally {
      log.stop();
      await side.close();
      await queue.close();
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "RedisJobQueue: while Redis is down, enqueue/getJob/status/result reject with JobQueueUnavailableError",
  ignore: SKIP !== false,
  async fn() {
    const server = await new RedisServer().start();
    const queue = new RedisJobQueue({ url: server.url, prefix: "down", backoff: FAST });
    const { log, registered } = queueEvents(queue);
    try {
      const job = await queue.enqueue("x", []);
      // Both connections are open (a first wait subscribed); then Redis goes away.
      const first = job.result();
      first.catch(() => {});
      await registered(job.id);
      await server.stop();
      const typed = (e: unknown) => {
        assert.ok(e instanceof JobQueueUnavailableError, `${e}`);
        assert.ok(e instanceof LayerUnavailableError);
        assert.doesNotMatch(e.message, /^The client is offline$/);
        return true;
      };
      await assert.rejects(queue.enqueue("x", []), typed);
      await assert.rejects(queue.getJob(job.id), typed);
      await assert.rejects(job.status(), typed);
      await assert.rejects(job.result({ timeout: BOUND_MS }), typed);
    } finally {
      log.stop();
      await queue.close();
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "RedisJobQueue: close() outlasts node-redis's reconnect timer when its 'error' listeners are slow (sanitizers)",
  ignore: SKIP !== false,
  async fn() {
    const server = await new RedisServer().start();
    const backoff = { minDelayMs: 100, maxDelayMs: 100 }; // each wait between tries: 100-199 ms
    const queue = new RedisJobQueue({ url: server.url, prefix: "slow", backoff });
    const { log } = queueEvents(queue);
    // A loaded machine, made repeatable: node-redis asks for the delay, runs its 'error'
    // listeners (the queue logs there), and only then starts its timer; here each warning
    // takes 60 ms. close() must outlast that timer, or the op sanitizer reports it.
    const previous = setLogger({
      ...memoryLogger(),
      warn() {
        const end = Date.now() + 60;
        while (Date.now() < end) { /* a slow, synchronous log */ }
      },
    });
    try {
      await queue.enqueue("x", []); // the command connection is open
      await server.stop();
      // A refused reconnect attempt was answered, its warning logged (slowly): node-redis waits
      // on its timer now. close() comes right then.
      const retry = await log.next(
        (e) => e.type === "reconnecting" && e.connection === "commands" && e.attempt >= 1,
        "node-redis waits to reconnect after a refused attempt",
      );
      assert.ok(retry.type === "reconnecting" && retry.delayMs >= 100 && retry.delayMs < 200);
      await assert.rejects(queue.getJob("x"), JobQueueUnavailableError);
    } finally {
      log.stop();
      await queue.close();
      setLogger(previous);
      await server.stop();
    }
  },
});

/** A client for commands through `cmdUrl` whose duplicates (subscriber) go through `subUrl`. */
function splitClient(cmdUrl: string, subUrl: string): RedisClientLike {
  const make = (url: string) => {
    const c = createClient({
      url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: () => 20 },
    }) as unknown as RedisClientLike;
    return c;
  };
  const client = make(cmdUrl);
  (client as { duplicate: () => RedisClientLike }).duplicate = () => make(subUrl);
  client.on("error", () => {});
  return client;
}

for (const order of ["subscriber first", "command connection first"] as const) {
  Deno.test({
    name:
      `RedisJobQueue: a result published while both connections were down arrives (reconnect: ${order})`,
    ignore: SKIP !== false,
    async fn() {
      const server = await new RedisServer().start();
      const cmdRelay = TcpRelay.start(server.port);
      const subRelay = TcpRelay.start(server.port);
      const prefix = "order";
      const client = splitClient(cmdRelay.url, subRelay.url);
      const producer = new RedisJobQueue({ client, prefix });
      const { log, registered } = queueEvents(producer);
      const runner = new RedisJobQueue({ url: server.url, prefix });
      const side = await admin(server.url);
      try {
        const job = await producer.enqueue("work", [7]);
        const waiting = job.result();
        waiting.catch(() => {});
        await registered(job.id);
        await subRelay.refuse();
        await cmdRelay.refuse();
        // The job completes while the producer cannot hear it.
        const counts = await new Worker(runner, { functions: { work: (_c, n: number) => n * 6 } })
          .runBurst();
        assert.equal(counts.completed, 1);
        assert.equal(await side.hGet(`${prefix}:job:${job.id}`, "state"), "completed");
        const from = log.seen.length;
        const back = (connection: string) =>
          log.next(
            (e) => e.type === "reconnected" && e.connection === connection,
            `the ${connection} connection is back`,
            from,
          );
        // The re-check the first connection back runs fails: the other one is still away.
        const failedRecheck = () =>
          log.next((e) => e.type === "recheckFailed", "a re-check fails", from);
        if (order === "subscriber first") {
          subRelay.accept();
          await back("results");
          await failedRecheck(); // it cannot reach Redis: the command connection is away
          cmdRelay.accept();
        } else {
          cmdRelay.accept();
          await back("commands");
          await failedRecheck(); // the subscription is not live yet
          subRelay.accept();
        }
        assert.equal(await within(waiting, BOUND_MS, "the missed result"), 42);
      } finally {
        log.stop();
        await producer.close();
        await runner.close();
        await client.close().catch(() => {});
        await side.close();
        await subRelay.close();
        await cmdRelay.close();
        await server.stop();
      }
    },
  });
}

Deno.test({
  name:
    "RedisJobQueue: a job's outcome is published only to the producers waiting for it (one channel each)",
  ignore: SKIP !== false,
  async fn() {
    const server = await new RedisServer().start();
    const prefix = "chan";
    const a = new RedisJobQueue({ url: server.url, prefix });
    const b = new RedisJobQueue({ url: server.url, prefix });
    const runner = new RedisJobQueue({ url: server.url, prefix });
    const side = await admin(server.url);
    const watcher = side.duplicate();
    watcher.on("error", () => {});
    await watcher.connect();
    const seen: { channel: string; message: string }[] = [];
    const marker = deferred();
    await watcher.pSubscribe(`${prefix}:events*`, (message, channel) => {
      if (message === "marker") marker.resolve();
      else seen.push({ channel, message });
    });
    const gate = deferred();
    const xGate = deferred();
    const worker = new Worker(runner, {
      functions: {
        work: async (_c, v: string) => {
          if (v === "y") await gate.promise;
          if (v === "x") await xGate.promise;
          return v;
        },
      },
    });
    const aEvents = queueEvents(a);
    const bEvents = queueEvents(b);
    const work = eventLog<WorkerEvent>(worker);
    const running = worker.start();
    try {
      const x = await a.enqueue("work", ["x"]);
      const y = await b.enqueue("work", ["y"]);
      const xResult = x.result();
      const yResult = b.getJob(y.id).then((h) => h!.result());
      await aEvents.registered(x.id);
      await bEvents.registered(y.id);
      xGate.resolve();
      assert.equal(await within(xResult, BOUND_MS, "x"), "x");
      const z = await runner.enqueue("work", ["z"]); // nobody waits for z
      await work.next(
        (e) => e.type === "finished" && e.job.id === z.id && e.outcome === "completed",
        "z completes",
      );
      assert.equal(await z.status(), "completed");
      await side.publish(`${prefix}:events:marker`, "marker");
      await within(marker.promise, BOUND_MS, "marker");
      assert.equal(seen.length, 1, JSON.stringify(seen));
      assert.equal(JSON.parse(seen[0].message).id, x.id);
      // b is subscribed too (it waits for y), but not to the channel x's outcome went to.
      const numsub = await side.sendCommand(["PUBSUB", "NUMSUB", seen[0].channel]) as unknown[];
      assert.equal(Number(numsub[1]), 1);
      gate.resolve();
      assert.equal(await within(yResult, BOUND_MS, "y"), "y");
    } finally {
      for (const l of [aEvents.log, bEvents.log, work]) l.stop();
      gate.resolve();
      xGate.resolve();
      await worker.stop();
      await running;
      await Promise.all([a.close(), b.close(), runner.close()]);
      await watcher.close();
      await side.close();
      await server.stop();
    }
  },
});

/**
 * A client that runs every job script with each `redis.call` checked: the keys of the command
 * (from `COMMAND GETKEYS`) must all be declared in `KEYS`.
 */
async function checkingClient(url: string): Promise<RedisClientLike> {
  const bySha = new Map<string, string>();
  for (const script of Object.values(scripts) as Script[]) {
    const source = script.source.replaceAll("redis.call(", "checked(");
    bySha.set(
      await script.sha(),
      `local declared = {}
for _, k in ipairs(KEYS) do declared[k] = true end
local function checked(...)
  local ok, keys = pcall(redis.call, 'COMMAND', 'GETKEYS', ...)
  if ok then
    for _, k in ipairs(keys) do
      if not declared[k] then return error('undeclared key ' .. k .. ' in ' .. (...)) end
    end
  end
  return redis.call(...)
end
${source}`,
    );
  }
  const client = createClient({ url }) as unknown as RedisClientLike;
  client.on("error", () => {});
  const send = client.sendCommand.bind(client);
  (client as { sendCommand: typeof send }).sendCommand = (args: string[]) => {
    if (args[0] === "EVALSHA" && bySha.has(args[1])) {
      return send(["EVAL", bySha.get(args[1])!, ...args.slice(2)]);
    }
    return send(args);
  };
  return client;
}

Deno.test({
  name: "RedisJobQueue: every key a job script touches is declared in KEYS (whole job lifecycle)",
  ignore: SKIP !== false,
  async fn() {
    const server = await new RedisServer().start();
    const client = await checkingClient(server.url);
    const queue = new RedisJobQueue({ client, prefix: "{keys}", keepResultMs: 60_000 });
    try {
      const ok = await queue.enqueue("ok", [1], { jobId: "j-ok" });
      const later = await queue.enqueue("ok", [2], { delay: 30 });
      const flaky = await queue.enqueue("flaky", [], { maxTries: 2 });
      const bad = await queue.enqueue("bad", [], { maxTries: 1 });
      const waiting = ok.result();
      // A dead worker's claim, reaped; a claim handed back.
      assert.ok((await queue.claim("dead", 1)).job);
      // The 1 ms lease ends on Redis's clock: once 10 ms passed there, one job is reaped.
      await redisClockPasses(client, "{keys}:clock", 10);
      assert.equal(await queue.reap(), 1);
      const held = (await queue.claim("held", 60_000)).job!;
      assert.deepEqual(await queue.renew([{ id: held.id, token: "held" }], 60_000), []);
      assert.equal(await queue.release(held.id, "held"), true);
      const counts = await new Worker(queue, {
        retryBackoff: { delayMs: 10 },
        functions: {
          ok: (_c, n: number) => n,
          flaky: (ctx) => {
            if (ctx.tryNumber === 1) throw new Error("once");
            return "fine";
          },
          bad: () => {
            throw new Error("always");
          },
        },
      }).runBurst();
      assert.deepEqual(counts, { completed: 3, failed: 1, retried: 1 });
      assert.equal(await waiting, 1);
      assert.equal(await later.result(), 2);
      assert.equal(await flaky.result(), "fine");
      await assert.rejects(bad.result());
      assert.equal(await ok.status(), "completed");
      // Re-enqueue of a finished id, and a duplicate of a queued one.
      await queue.enqueue("ok", [3], { jobId: "j-ok" });
      await queue.enqueue("ok", [4], { jobId: "j-ok" });
    } finally {
      await queue.close();
      await client.close();
      await server.stop();
    }
  },
});

Deno.test({
  name: "RedisJobQueue: status() of delayed jobs follows Redis time, not this process's clock",
  ignore: SKIP !== false,
  async fn() {
    const server = await new RedisServer().start();
    const queue = new RedisJobQueue({ url: server.url, prefix: "clock" });
    const side = await admin(server.url);
    const realNow = Date.now;
    try {
      const slow = await queue.enqueue("x", [], { delay: 60_000 });
      const soon = await queue.enqueue("x", [], { delay: 50 });
      Date.now = () => realNow() + 3_600_000; // this process runs an hour ahead
      assert.equal(await slow.status(), "delayed");
      Date.now = () => realNow() - 3_600_000; // an hour behind
      // Due 50 ms after the enqueue by Redis's clock, not an hour later by this process's: once
      // 60 ms passed there, it is queued.
      await redisClockPasses(side, "clock:never", 60);
      assert.equal(await soon.status(), "queued");
    } finally {
      Date.now = realNow;
      await side.close();
      await queue.close();
      await server.stop();
    }
  },
});
