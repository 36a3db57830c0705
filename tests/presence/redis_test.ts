/**
 * Presence on Redis: the backend on a private server (three tabs, diffs across instances, an
 * outage and the re-track after it), then two processes (this one and a spawned app): join and
 * leave diffs cross over (p99 printed), three tabs are one key, and a SIGKILLed process's entries
 * are evicted within the TTL.
 */
import {
  App,
  assert,
  presenceBackends,
  type PresenceDiff,
  PresenceUnavailableError,
  serveForTests,
  skipUnless,
  spawnApp,
  startRedis,
  WebsocketCommunicator,
} from "./deps.ts";
import { RedisPresence } from "../../adapters/redis/mod.ts";
import { PresenceRoom } from "../fixtures/presence_app.ts";

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
    try {
      await p.track("room", "alice", "t1", {});
      redis.pause();
      const started = Date.now();
      await assert.rejects(p.stats("room"), PresenceUnavailableError);
      assert.ok(Date.now() - started < 2000, "bounded");
      redis.resume();
      await p.heartbeat().catch(() => {});
      // A Redis that lost its data (restart): the next heartbeat tracks alice again.
      await redis.restart();
      // bob's track may land or fail (typed) while the client reconnects: held either way.
      await p.track("room", "bob", "b1", {}).catch((e) =>
        assert.ok(e instanceof PresenceUnavailableError, String(e))
      );
      let stats = { keys: 0, connections: 0 };
      for (let i = 0; i < 50 && stats.keys < 2; i++) {
        await p.heartbeat().catch(() => {});
        stats = await p.stats("room").catch(() => stats);
        if (stats.keys < 2) await new Promise((r) => setTimeout(r, 100)); // reconnect backoff
      }
      assert.deepEqual(stats, { keys: 2, connections: 2 }, "held entries tracked again");
    } finally {
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
      await tabs[0].disconnect();
      await tabs[1].disconnect();
      await watcher.sendJson({ action: "presence", payload: { group: "room.r" } });
      let reply = await watcher.assertReceives<
        { action: string; payload: { entries: Record<string, unknown[]> } }
      >("presence");
      // The untracks of the two closes may still be in flight: ask until they landed.
      for (let i = 0; i < 50 && reply.payload.entries.carol?.length !== 1; i++) {
        await watcher.sendJson({ action: "presence", payload: { group: "room.r" } });
        reply = await watcher.assertReceives("presence");
      }
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
      let tracked = false;
      // The command link may reconnect a little after the subscriber (no event to await there).
      for (let i = 0; i < 50 && !tracked; i++) {
        tracked = await p.track("room", "ann", "a1", {}).then(() => true, () => false);
        if (!tracked) await new Promise((r) => setTimeout(r, 50));
      }
      const { stop: stop2 } = await joined;
      await stop2();
      await stop();
    } finally {
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
      let tracked = false;
      for (let i = 0; i < 50 && !tracked; i++) {
        tracked = await p.track("room", "ann", "a1", {}).then(() => true, () => false);
        if (!tracked) await new Promise((r) => setTimeout(r, 50)); // the command link's backoff
      }
      await joined.promise;
      await stop();
    } finally {
      await p.close();
    }
  },
});
