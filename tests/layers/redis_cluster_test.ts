/**
 * Redis Cluster specifics of the Redis layers and job queue, on private 3-master, 3-replica
 * clusters: only processes with members of a group hear its traffic (sharded pub/sub), the
 * queue layer's keys spread over the masters, unreachable seeds fail bounded. Killed masters,
 * `CLUSTER FAILOVER` and slot migration are in redis_cluster_kill_test.ts,
 * redis_cluster_failover_test.ts and redis_cluster_migration_test.ts (one file each, so that
 * `deno test --parallel` runs them side by side).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  RedisJobQueue,
  RedisPubSubChannelLayer,
  RedisQueueChannelLayer,
} from "../../adapters/redis/mod.ts";
import { clusterCli, startRedisCluster } from "../../testing/redis_cluster.ts";
import { skipReason } from "../../testing/services.ts";
import { receiveWithin } from "./conformance.ts";
import { quietLogs } from "../jobs/contract.ts";
import { LayerUnavailableError } from "../../src/layers/kit.ts";

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
