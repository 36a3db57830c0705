/**
 * Presence on Redis: the backend on a private server (three tabs, diffs across instances, an
 * outage and the re-track after it), then two processes (this one and a spawned app): join and
 * leave diffs cross over (p99 printed), three tabs are one key, and a SIGKILLed process's entries
 * are evicted within the TTL. Nothing polls: the tests await the backends' events (`onEvent`, the
 * other process's printed by it) and diffs.
 */
import {
  App,
  assert,
  presenceBackends,
  type PresenceDiff,
  type PresenceEvent,
  PresenceUnavailableError,
  serveForTests,
  skipUnless,
  spawnApp,
  startRedis,
  WebsocketCommunicator,
} from "./deps.ts";
import { RedisPresence } from "../../adapters/redis/mod.ts";
import { PresenceRoom } from "../fixtures/presence_app.ts";
import { type EventLog, eventLog } from "../helpers/event_log.ts";
import { presenceEventsSuite } from "./events_suite.ts";

const sanitize = { sanitizeOps: true, sanitizeResources: true };
const APP = import.meta.resolve("../fixtures/presence_app.ts");

/** Resolves with the first diff `pick` accepts. */
function nextDiff(
  backend: RedisPresence,
  group: string,
  pick: (d: PresenceDiff) => boolean,
): Promise<{ diff: PresenceDiff; stop: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    let stop: () => Promise<void> = () => Promise.resolve();
    let found: PresenceDiff | undefined;
    backend.subscribe(group, (d) => {
      if (!found && pick(d)) resolve({ diff: found = d, stop });
    }).then((s) => stop = s, reject);
  });
}

/**
 * Tracks once `p`'s calls reach Redis: after a failure (typed), waits for the `reconnected` it
 * tells once they do, and tries again (a few times, should Redis flap).
 */
async function trackWhenUp(
  p: RedisPresence,
  log: EventLog<PresenceEvent>,
  group: string,
  key: string,
  ref: string,
): Promise<void> {
  for (let attempt = 1;; attempt++) {
    const from = log.seen.length;
    try {
      return await p.track(group, key, ref, {});
    } catch (error) {
      assert.ok(error instanceof PresenceUnavailableError, String(error));
      if (attempt === 3) throw error;
      await log.next((e) => e.type === "reconnected", "calls reach Redis again", from);
    }
  }
}

Deno.test({
  name: "RedisPresence: three tabs, diffs across instances, stats, list, bounds",
  ignore: skipUnless("redis"),
  ...sanitize,
  fn: async () => {
    await using redis = await startRedis();
    const a = new RedisPresence({ url: redis.url, ttlMs: 3000 });
    const b = new RedisPresence({ url: redis.url, ttlMs: 3000 });
    try {
      const diffs: PresenceDiff[] = [];
      const stop = await b.subscribe("room", (d) => diffs.push(d));
      const joined = nextDiff(b, "room", (d) => "alice" in d.joins);
      await a.track("room", "alice", "t1", { tab: 1 });
      await a.track("room", "alice", "t2", { tab: 2 });
      await a.track("room", "alice", "t3", { tab: 3 });
      const { diff, stop: stop2 } = await joined;
      await stop2();
      assert.deepEqual(diff, { group: "room", joins: { alice: [{ tab: 1 }] }, leaves: {} });
      assert.deepEqual(await b.stats("room"), { keys: 1, connections: 3 });
      const list = await b.list("room");
      assert.deepEqual(
        list.entries.alice.map((m) => m.tab).sort(),
        [1, 2, 3],
        "one key, three metas",
      );
      const left = nextDiff(b, "room", (d) => "alice" in d.leaves);
      await a.untrack("room", "alice", "t1");
      await a.untrack("room", "alice", "t2");
      await a.track("room", "bob", "b1", { x: [] }); // a marker after the two closes
      await a.untrack("room", "alice", "t3");
      const gone = await left;
      await gone.stop();
      assert.deepEqual(gone.diff.leaves, { alice: [{ tab: 3 }] });
      assert.deepEqual(
        diffs.map((d) => [Object.keys(d.joins), Object.keys(d.leaves)]),
        [[["alice"], []], [["bob"], []], [[], ["alice"]]],
        "closing two of three tabs published no leave",
      );
      assert.deepEqual((await b.list("room")).entries, { bob: [{ x: [] }] }, "metas round-trip");
      for (let i = 0; i < 30; i++) await a.track("room", `u${i}`, `r${i}`, {});
      const page = await b.list("room", 10);
      assert.equal(Object.keys(page.entries).length, 10);
      assert.equal(page.truncated, true);
      await stop();
      await assert.rejects(a.track("room", "k", "a|b", {}), /ref/);
    } finally {
      await a.close();
      await b.close();
    }
    assert.equal(
      await redis.command("EXISTS switchboard:presence:{room}:z"),
      ":0",
      "close untracks",
    );
  },
});

Deno.test({
  name: "RedisPresence: an outage rejects with PresenceUnavailableError; held entries come back",
  ignore: skipUnless("redis"),
  ...sanitize,
  fn: async () => {
    await using redis = await startRedis();
    const p = new RedisPresence({
      url: redis.url,
      ttlMs: 1500,
      timeouts: { commandTimeoutMs: 500, connectTimeoutMs: 500 },
    });
    const log = eventLog<PresenceEvent>(p);
    try {
      await p.track("room", "alice", "t1", {});
      redis.pause();
      const started = Date.now();
      await assert.rejects(p.stats("room"), PresenceUnavailableError);
      assert.ok(Date.now() - started < 2000, "bounded");
      assert.equal(log.seen.filter((e) => e.type === "disconnected").length, 1, "told once");
      redis.resume();
      await p.heartbeat().catch(() => {});
      // A Redis that lost its data (restart): the first heartbeat after the reconnect tracks
      // alice again (the only one that can find an entry gone).
      const from = log.seen.length;
      await redis.restart();
      // bob's track may land or fail (typed) while the client reconnects: held either way.
      await p.track("room", "bob", "b1", {}).catch((e) =>
        assert.ok(e instanceof PresenceUnavailableError, String(e))
      );
      await log.next(
        (e) => e.type === "synced" && e.tracked >= 1,
        "a heartbeat tracks the held entries again",
        from,
      );
      assert.deepEqual(await p.stats("room"), { keys: 2, connections: 2 }, "held entries back");
    } finally {
      log.stop();
      await p.close();
    }
  },
});

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

Deno.test({
  name:
    "two processes on Redis: diffs cross over (p99 printed), three tabs, SIGKILL evicted within TTL",
  ignore: skipUnless("redis"),
  ...sanitize,
  fn: async () => {
    const TTL = 2000;
    await using redis = await startRedis();
    const local = new RedisPresence({ url: redis.url, ttlMs: TTL, prefix: "two" });
    presenceBackends.register("default", local);
    await using other = await spawnApp(APP, {
      REDIS_URL: redis.url,
      PRESENCE_TTL_MS: String(TTL),
      PRESENCE_PREFIX: "two",
      NATS_URL: "", // the app would pick NATS if this process has it set
      PRESENCE_EVENTS: "1",
    });
    const app = new App().ws("/ws/room/:room", PresenceRoom);
    await using server = await serveForTests(app);
    try {
      const watcher = await WebsocketCommunicator.connect(app, "/ws/room/r?user=watcher", {
        url: server.url,
      });
      await watcher.assertReceives("presence_diff"); // its own join
      const there = (user: string, tab = "1") =>
        WebsocketCommunicator.connect(app, `/ws/room/r?user=${user}&tab=${tab}`, {
          url: other.url,
        });
      const waitFor = async (kind: "joins" | "leaves", user: string) => {
        for (;;) {
          const f = await watcher.assertReceives<{ action: string; payload: PresenceDiff }>(
            "presence_diff",
          );
          if (user in f.payload[kind]) return f.payload;
        }
      };
      // Join and leave latency, other process → this one.
      const latencies: number[] = [];
      // Joins: from the moment the other process tracked (the meta's `at`) to the diff here.
      // Leaves: from the client's close (the close handshake included) to the diff here.
      for (let i = 0; i < 20; i++) {
        const c = await there(`u${i}`);
        const join = await waitFor("joins", `u${i}`);
        latencies.push(Date.now() - (join.joins[`u${i}`][0].at as number));
        const t = performance.now();
        await c.disconnect();
        await waitFor("leaves", `u${i}`);
        latencies.push(performance.now() - t);
      }
      const p50 = quantile(latencies, 0.5), p99 = quantile(latencies, 0.99);
      console.log(
        `presence diff latency across processes (${latencies.length} diffs): ` +
          `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (target < 500 ms)`,
      );
      assert.ok(p99 < 500, `p99 ${p99.toFixed(1)} ms`);

      // Three tabs in the other process: one key, three metas; two closes are no leave.
      const tabs = [
        await there("carol", "1"),
        await there("carol", "2"),
        await there("carol", "3"),
      ];
      const joined = await waitFor("joins", "carol");
      assert.equal(joined.joins.carol.length, 1);
      // The other process prints its backend's events: its untracks of the two closes in Redis.
      const untracked = other.waitForOutput(
        /^presence event \{"type":"untracked","group":"room\.r","key":"carol"/,
        { count: 2 },
      );
      await tabs[0].disconnect();
      await tabs[1].disconnect();
      await untracked;
      await watcher.sendJson({ action: "presence", payload: { group: "room.r" } });
      const reply = await watcher.assertReceives<
        { action: string; payload: { entries: Record<string, unknown[]> } }
      >("presence");
      assert.equal(reply.payload.entries.carol.length, 1);
      await tabs[2].disconnect();
      const last = await waitFor("leaves", "carol");
      assert.deepEqual(Object.keys(last.leaves), ["carol"], "no leave before the last tab");

      // SIGKILL: the other process's entries are evicted by this one within the TTL.
      await there("doomed", "1");
      await there("doomed", "2");
      await waitFor("joins", "doomed");
      const killed = performance.now();
      await other.kill();
      await waitFor("leaves", "doomed");
      const evicted = performance.now() - killed;
      console.log(`SIGKILLed process evicted after ${evicted.toFixed(0)} ms (TTL ${TTL} ms)`);
      assert.ok(evicted <= TTL, `evicted after ${evicted} ms`);
      assert.deepEqual(await local.stats("room.r"), { keys: 1, connections: 1 }, "watcher only");
      await watcher.disconnect();
    } finally {
      presenceBackends.unregister("default");
      await app.close();
      await local.close();
    }
  },
});

Deno.test({
  name: "RedisPresence: after its subscriber reconnects, watchers get a resync diff",
  ignore: skipUnless("redis"),
  ...sanitize,
  fn: async () => {
    await using redis = await startRedis();
    const p = new RedisPresence({ url: redis.url, ttlMs: 3000 });
    const log = eventLog<PresenceEvent>(p);
    try {
      const resynced = Promise.withResolvers<PresenceDiff>();
      const stop = await p.subscribe("room", (d) => d.resync && resynced.resolve(d));
      await redis.restart();
      assert.deepEqual(await resynced.promise, {
        group: "room",
        joins: {},
        leaves: {},
        resync: true,
      });
      // Subscribed again: a join published after the reconnect arrives.
      const joined = nextDiff(p, "room", (d) => "ann" in d.joins);
      // The command link may reconnect a little after the subscriber: its `reconnected`.
      await trackWhenUp(p, log, "room", "ann", "a1");
      const { stop: stop2 } = await joined;
      await stop2();
      await stop();
    } finally {
      log.stop();
      await p.close();
    }
  },
});

Deno.test({
  name: "RedisPresence: a subscription made while Redis is down is retried, then resyncs",
  ignore: skipUnless("redis"),
  ...sanitize,
  fn: async () => {
    await using redis = await startRedis();
    const p = new RedisPresence({
      url: redis.url,
      ttlMs: 600,
      timeouts: { commandTimeoutMs: 300, connectTimeoutMs: 300 },
    });
    const log = eventLog<PresenceEvent>(p);
    try {
      await redis.stop();
      const diffs: PresenceDiff[] = [];
      const resynced = Promise.withResolvers<void>();
      const joined = Promise.withResolvers<void>();
      const stop = await p.subscribe("room", (d) => {
        diffs.push(d);
        if (d.resync) resynced.resolve();
        if ("ann" in d.joins) joined.resolve();
      });
      await redis.start();
      await resynced.promise; // the retried SUBSCRIBE went through
      await trackWhenUp(p, log, "room", "ann", "a1"); // past the command link's backoff
      await joined.promise;
      await stop();
    } finally {
      log.stop();
      await p.close();
    }
  },
});

presenceEventsSuite({
  name: "RedisPresence",
  ignore: skipUnless("redis"),
  counts: "none",
  open: async () => {
    const redis = await startRedis();
    const options = {
      url: redis.url,
      timeouts: { commandTimeoutMs: 500, connectTimeoutMs: 500 },
    };
    const a = new RedisPresence(options);
    const b = new RedisPresence(options);
    return {
      a,
      b,
      lose: () => redis.flush(),
      stop: () => redis.stop(),
      start: async () => void await redis.start(),
      [Symbol.asyncDispose]: async () => {
        await a.close();
        await b.close();
        await redis.stop();
      },
    };
  },
});
