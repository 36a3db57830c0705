/**
 * The Redis layers on a private 3-master, 3-replica Redis Cluster whose master is killed (its
 * replica promoted): delivery resumes, and the layer reports the outage (`disconnected`,
 * `resync`). Split from redis_cluster_test.ts so that `deno test --parallel` spreads the
 * cluster cases.
 *
 * @module
 */
import assert from "node:assert/strict";
import { RedisPubSubChannelLayer, RedisQueueChannelLayer } from "../../adapters/redis/mod.ts";
import { startRedisCluster } from "../../testing/redis_cluster.ts";
import { skipReason } from "../../testing/services.ts";
import { receiveWithin } from "./conformance.ts";
import { eventually, untilDelivered } from "./conformance_faults.ts";
import { quietLogs } from "../jobs/contract.ts";
import { clusterQueueKey } from "../../adapters/redis/cluster_keys.ts";
import { nonLocalName } from "../../src/layers/kit.ts";

const ignore = skipReason("redis") !== undefined;
quietLogs();

const fast = { backoff: { minDelayMs: 20, maxDelayMs: 200 } };

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
