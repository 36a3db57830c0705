/**
 * Redis Cluster specifics of the Redis layers and job queue, on private 3-master, 3-replica
 * clusters: only processes with members of a group hear its traffic (sharded pub/sub), the
 * queue layer's keys spread over the masters, and delivery resumes after a master is killed
 * (its replica promoted) or fails over with `CLUSTER FAILOVER` without losing queued messages
 * or jobs.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  RedisJobQueue,
  RedisPubSubChannelLayer,
  RedisQueueChannelLayer,
} from "../../adapters/redis/mod.ts";
import { Worker } from "../../src/jobs/worker.ts";
import { clusterCli, startRedisCluster } from "../../testing/redis_cluster.ts";
import { skipReason } from "../../testing/services.ts";
import { receiveWithin } from "./conformance.ts";
import { eventually, untilDelivered } from "./conformance_faults.ts";
import { quietLogs } from "../jobs/contract.ts";
import { clusterQueueKey } from "../../adapters/redis/cluster_keys.ts";
import { LayerUnavailableError, nonLocalName } from "../../src/layers/kit.ts";

const ignore = skipReason("redis") !== undefined;
quietLogs();

const fast = { backoff: { minDelayMs: 20, maxDelayMs: 200 } };

Deno.test({
  name: "cluster pub/sub: a process hears only the groups it has members of (0 for the others)",
  ignore,
  async fn() {
    await using cluster = await startRedisCluster();
    const opts = { cluster: { rootNodes: cluster.urls.slice(0, 1) }, prefix: "only", ...fast };
    const a = new RedisPubSubChannelLayer(opts);
    const b = new RedisPubSubChannelLayer(opts);
    const sender = new RedisPubSubChannelLayer(opts);
    try {
      const [ca, cb] = [await a.newChannel(), await b.newChannel()];
      await a.groupAdd("room-a", ca);
      await b.groupAdd("room-b", cb);
      await sender.connect();
      const baseA = a.heard, baseB = b.heard;
      for (let i = 0; i < 50; i++) {
        await sender.groupSend("room-a", { type: "m", i });
        await sender.groupSend("room-b", { type: "m", i });
      }
      for (let i = 0; i < 50; i++) {
        assert.deepEqual(await receiveWithin(a, ca), { type: "m", i });
        assert.deepEqual(await receiveWithin(b, cb), { type: "m", i });
      }
      // A last message to each group, received: every earlier one has been heard by then.
      await sender.groupSend("room-a", { type: "end" });
      await sender.groupSend("room-b", { type: "end" });
      await receiveWithin(a, ca);
      await receiveWithin(b, cb);
      assert.equal(a.heard - baseA, 51, "A heard room-a only");
      assert.equal(b.heard - baseB, 51, "B heard room-b only");
      assert.equal(sender.heard, 0, "the sender, with no member, heard nothing");
      // The shard of each group's channel has exactly one subscriber (its member's process).
      const master = await cluster.masterOf("only:group:room-a");
      const reply = await clusterCli(master, "PUBSUB", "SHARDNUMSUB", "only:group:room-a");
      assert.deepEqual(reply.trim().split("\n"), ["only:group:room-a", "1"]);
      // Leaving the group unsubscribes: nothing more is heard.
      await a.groupDiscard("room-a", ca);
      const before = a.heard;
      await sender.groupSend("room-a", { type: "late" });
      await sender.groupSend("room-b", { type: "probe" });
      await receiveWithin(b, cb);
      assert.equal(a.heard, before);
    } finally {
      await Promise.all([a.close(), b.close(), sender.close()]);
    }
  },
});

Deno.test({
  name: "cluster queue layer: keys carry hash tags and spread over the masters",
  ignore,
  async fn() {
    await using cluster = await startRedisCluster();
    const opts = { cluster: { rootNodes: cluster.urls }, prefix: "spread", ...fast };
    const layer = new RedisQueueChannelLayer(opts);
    try {
      for (let i = 0; i < 30; i++) await layer.send(`work-${i}`, { type: "job", i });
      const masters = new Set<number>();
      for (let i = 0; i < 30; i++) masters.add(await cluster.masterOf(`spread:q:{work-${i}}`));
      assert.equal(masters.size, 3, "30 normal channels land on all 3 masters");
      let keys = 0;
      for (const port of masters) keys += Number(await clusterCli(port, "DBSIZE"));
      assert.equal(keys, 30);
      for (let i = 0; i < 30; i++) {
        assert.deepEqual(await receiveWithin(layer, `work-${i}`), { type: "job", i });
      }
    } finally {
      await layer.close();
    }
  },
});

for (const kind of ["pubsub", "queue"] as const) {
  Deno.test({
    name: `cluster ${kind} layer: a master killed, its replica promoted: delivery resumes`,
    ignore,
    async fn() {
      await using cluster = await startRedisCluster();
      const opts = { cluster: { rootNodes: cluster.urls }, prefix: "kill", ...fast };
      const make = () =>
        kind === "pubsub" ? new RedisPubSubChannelLayer(opts) : new RedisQueueChannelLayer(opts);
      const receiver = make();
      const sender = make();
      try {
        const channel = await receiver.newChannel();
        await receiver.groupAdd("room", channel);
        const events: string[] = [];
        receiver.onEvent((e) => events.push(e.type));
        await sender.groupSend("room", { type: "before" });
        assert.deepEqual(await receiveWithin(receiver, channel), { type: "before" });
        // The master that holds what the receiver hears goes away: pub/sub, the group's shard
        // channel; queue layer, the receiver's inbox.
        const key = kind === "pubsub"
          ? "kill:group:room"
          : clusterQueueKey("kill", nonLocalName(channel));
        const killed = await cluster.killMaster(key);
        assert.notEqual(await cluster.masterOf(key), killed);
        await untilDelivered(sender, receiver, channel, (m) => sender.groupSend("room", m));
        await untilDelivered(sender, receiver, channel);
        await eventually(() => sender.groupSend("room", { type: "after" }));
        assert.deepEqual(await receiveWithin(receiver, channel), { type: "after" });
        // What was published (pub/sub) or not yet replicated (queue) while the master was away
        // may be lost: the layer said so.
        assert.ok(events.includes("disconnected"), `events: ${events}`);
        assert.ok(events.includes("resync"), `events: ${events}`);
      } finally {
        await Promise.all([receiver.close(), sender.close()]);
      }
    },
  });
}

Deno.test({
  name: "cluster queue layer: CLUSTER FAILOVER under a queue loses none of its messages",
  ignore,
  async fn() {
    await using cluster = await startRedisCluster();
    const opts = { cluster: { rootNodes: cluster.urls }, prefix: "fo", ...fast };
    const sender = new RedisQueueChannelLayer(opts);
    const receiver = new RedisQueueChannelLayer(opts);
    try {
      for (let i = 0; i < 50; i++) await sender.send("work", { type: "w", i });
      await cluster.failover("fo:q:{work}");
      for (let i = 50; i < 60; i++) {
        await eventually(() => sender.send("work", { type: "w", i }));
      }
      for (let i = 0; i < 60; i++) {
        assert.deepEqual(await receiveWithin(receiver, "work"), { type: "w", i });
      }
    } finally {
      await Promise.all([sender.close(), receiver.close()]);
    }
  },
});

Deno.test({
  name: "cluster job queue: CLUSTER FAILOVER keeps queued jobs; a killed master: jobs run again",
  ignore,
  async fn() {
    await using cluster = await startRedisCluster();
    const queue = new RedisJobQueue({ cluster: { rootNodes: cluster.urls }, ...fast });
    const ran: number[] = [];
    let running: Promise<void> | undefined;
    const worker = new Worker(queue, {
      functions: { add: (_ctx: unknown, n: number) => (ran.push(n), n + 1) },
      concurrency: 2,
    });
    try {
      const jobs = [];
      for (let i = 0; i < 20; i++) jobs.push(await queue.enqueue("add", [i]));
      await cluster.failover("switchboard:jobs:{default}:ready");
      running = worker.start();
      for (const [i, job] of jobs.entries()) assert.equal(await job.result(), i + 1);
      await cluster.killMaster("switchboard:jobs:{default}:ready");
      const after = await eventually(() => queue.enqueue("add", [100]), 15_000);
      assert.equal(await after.result({ timeout: 15_000 }), 101);
      assert.equal(new Set(ran).size, 21);
    } finally {
      await worker.stop();
      await running;
      await queue.close();
    }
  },
});

Deno.test({
  name: "cluster: slot migration during traffic loses no queued channel message and no job",
  ignore,
  async fn() {
    await using cluster = await startRedisCluster();
    const opts = {
      cluster: { rootNodes: cluster.urls },
      prefix: "mig",
      capacity: 1000,
      ...fast,
    };
    const sender = new RedisQueueChannelLayer(opts);
    const receiver = new RedisQueueChannelLayer(opts);
    const queue = new RedisJobQueue({ cluster: { rootNodes: cluster.urls }, ...fast });
    const worker = new Worker(queue, {
      functions: { twice: (_ctx: unknown, n: number) => 2 * n },
      concurrency: 4,
      // A try whose COMPLETE failed (TRYAGAIN for longer than its retries while the queue's
      // slot moved) stays running until its lease ends: then it runs again (at least once).
      leaseMs: 2000,
    });
    let running: Promise<void> | undefined;
    try {
      const direct = await receiver.newChannel();
      const inbox = clusterQueueKey("mig", nonLocalName(direct));
      running = worker.start();
      let sending = true;
      let sent = -1; // how many of each kind, once the traffic stopped
      const traffic = (async () => {
        const jobs = [];
        let i = 0;
        for (; sending; i++) {
          // A multi-key script meets TRYAGAIN while its slot's keys are split between the two
          // nodes (retried for 2 s, then LayerUnavailableError): retried here, bounded.
          await eventually(() => sender.send(direct, { type: "d", i }), 30_000);
          await eventually(() => sender.send("work", { type: "w", i }), 30_000);
          jobs.push(await eventually(() => queue.enqueue("twice", [i]), 30_000));
        }
        sent = i;
        return jobs;
      })();
      traffic.catch(() => {}); // awaited below; a failure must not be an unhandled rejection
      const received = (async () => {
        const got: number[][] = [[], []];
        const deadline = Date.now() + 60_000;
        const next = async (channel: string) => {
          for (;;) {
            if (Date.now() > deadline) {
              throw new Error(
                `${channel}: received ${got[0].length} direct, ${got[1].length} work of ${sent}`,
              );
            }
            if (sent >= 0 && got[channel === direct ? 0 : 1].length >= sent) return undefined;
            const m = await receiveWithin(receiver, channel, 500).catch(() => undefined);
            if (m) return m.i as number;
          }
        };
        for (;;) {
          const [d, w] = [await next(direct), await next("work")];
          if (d === undefined && w === undefined) return got;
          if (d !== undefined) got[0].push(d);
          if (w !== undefined) got[1].push(w);
        }
      })();
      // Each slot moves while messages and jobs keep coming: the receiver's inbox, the normal
      // channel's queue, the job queue's keys.
      for (const key of [inbox, "mig:q:{work}", "switchboard:jobs:{default}:ready"]) {
        const from = await cluster.masterOf(key);
        const to = await cluster.migrateSlot(key, { batch: 10, pauseMs: 10, holdMs: 400 });
        assert.notEqual(to, from);
      }
      sending = false;
      const jobs = await traffic;
      const got = await received;
      assert.ok(sent > 100, `traffic during the migration: ${sent}`);
      const expected = Array.from({ length: sent }, (_, i) => i);
      assert.deepEqual(got[0], expected, "direct messages, in order, none lost");
      assert.deepEqual(got[1], expected, "normal-channel messages, in order, none lost");
      const results = await Promise.all(jobs.map((j) => j.result({ timeout: 30_000 })));
      assert.deepEqual(results, jobs.map((_, i) => 2 * i), "every job ran");
    } finally {
      await worker.stop();
      await running;
      await Promise.all([sender.close(), receiver.close(), queue.close()]);
    }
  },
});

Deno.test("cluster: unreachable seed nodes fail with LayerUnavailableError, bounded", async () => {
  const rootNodes = ["redis://127.0.0.1:1"];
  const timeouts = { connectTimeoutMs: 300, commandTimeoutMs: 300 };
  for (
    const layer of [
      new RedisPubSubChannelLayer({ cluster: { rootNodes }, timeouts, ...fast }),
      new RedisQueueChannelLayer({ cluster: { rootNodes }, timeouts, ...fast }),
    ]
  ) {
    const started = performance.now();
    await assert.rejects(() => layer.groupSend("g", { type: "x" }), LayerUnavailableError);
    assert.ok(performance.now() - started < 3000);
    await layer.close();
  }
  const queue = new RedisJobQueue({ cluster: { rootNodes }, ...fast });
  await assert.rejects(() => queue.enqueue("x", []), LayerUnavailableError);
  await queue.close();
  assert.throws(
    () => new RedisPubSubChannelLayer({ cluster: { rootNodes }, url: "redis://h" }),
    /one of url, hosts or cluster/,
  );
  assert.throws(() => new RedisQueueChannelLayer({ cluster: { rootNodes: [] } }), /rootNodes/);
});
