/**
 * A slot migration during traffic on a private 3-master, 3-replica Redis Cluster: the queue
 * layer and the job queue lose no message and no job. Split from redis_cluster_test.ts so that
 * `deno test --parallel` spreads the cluster cases.
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
import { clusterQueueKey } from "../../adapters/redis/cluster_keys.ts";
import { nonLocalName } from "../../src/layers/kit.ts";

const ignore = skipReason("redis") !== undefined;
quietLogs();

const fast = { backoff: { minDelayMs: 20, maxDelayMs: 200 } };

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
