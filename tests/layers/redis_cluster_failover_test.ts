/**
 * `CLUSTER FAILOVER` (and a killed master) under the Redis queue layer and the job queue on a
 * private 3-master, 3-replica Redis Cluster: no queued message or job is lost. Split from
 * redis_cluster_test.ts so that `deno test --parallel` spreads the cluster cases.
 *
 * @module
 */
import assert from "node:assert/strict";
import { RedisJobQueue, RedisQueueChannelLayer } from "../../adapters/redis/mod.ts";
import { Worker } from "../../src/jobs/worker.ts";
import { startRedisCluster } from "../../testing/redis_cluster.ts";
import { skipReason } from "../../testing/services.ts";
import { receiveWithin } from "./conformance.ts";
import { eventually } from "./conformance_faults.ts";
import { quietLogs } from "../jobs/contract.ts";

const ignore = skipReason("redis") !== undefined;
quietLogs();

const fast = { backoff: { minDelayMs: 20, maxDelayMs: 200 } };

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
