/**
 * The job queue contract (with its hardening part) on {@linkcode RedisJobQueue} over a private
 * 3-master, 3-replica Redis Cluster started once for this file: every key of a queue shares the
 * hash tag of its prefix, results travel over sharded pub/sub.
 *
 * @module
 */
import assert from "node:assert/strict";
import { RedisJobQueue } from "../../adapters/redis/job_queue.ts";
import { jobQueueContract, quietLogs } from "./contract.ts";
import { clusterPerFile } from "../helpers/cluster_file.ts";

const cluster = clusterPerFile("RedisJobQueue on Redis Cluster");

jobQueueContract({
  name: "RedisJobQueue (cluster)",
  skip: cluster.skip,
  makeQueue: (options = {}) =>
    Promise.resolve(
      new RedisJobQueue({
        cluster: { rootNodes: cluster.urls() },
        prefix: `sbtest:jobs:{${crypto.randomUUID().slice(0, 12)}}`,
        ...options,
      }),
    ),
});

quietLogs();

Deno.test("RedisJobQueue on a cluster: a prefix without a hash tag is refused", () => {
  assert.throws(
    () => new RedisJobQueue({ cluster: { rootNodes: ["redis://127.0.0.1:1"] }, prefix: "a:b" }),
    /hash tag/,
  );
  const q = new RedisJobQueue({ cluster: { rootNodes: ["redis://127.0.0.1:1"] } });
  assert.equal(q.prefix, "switchboard:jobs:{default}");
  assert.throws(
    () => new RedisJobQueue({ cluster: { rootNodes: [] } }),
    /rootNodes/,
  );
  assert.throws(
    () => new RedisJobQueue({ cluster: { rootNodes: ["x"] }, url: "redis://h" }),
    /one of/,
  );
});

cluster.registerStop();
