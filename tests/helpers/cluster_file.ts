/**
 * One private Redis Cluster per test file: {@linkcode clusterPerFile} registers a first test that
 * starts it and a last one that stops it (the tests between use {@linkcode ClusterOfFile.urls}).
 * The two carry no resource sanitizer: the cluster's processes outlive the first and were made
 * before the last. Skipped (with everything that uses it) when `redis-server` is missing.
 *
 * @module
 */
import { type RedisClusterServer, startRedisCluster } from "../../testing/redis_cluster.ts";
import { skipReason } from "../../testing/services.ts";

/** The cluster of one test file. */
export interface ClusterOfFile {
  /** Why cluster tests are skipped, or false. */
  readonly skip: string | false;
  /** Seed URLs (throws before the start test ran). */
  urls(): string[];
  /** The running cluster (throws before the start test ran). */
  server(): RedisClusterServer;
  /** Registers the stop test: call after every test that uses the cluster. */
  registerStop(): void;
}

/** Registers the start test now; call `registerStop()` once the file's tests are registered. */
export function clusterPerFile(label: string): ClusterOfFile {
  const skip = skipReason("redis") ?? false;
  let cluster: RedisClusterServer | undefined;
  Deno.test({
    name: `${label}: start a 3-master, 3-replica Redis Cluster`,
    ignore: skip !== false,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      cluster = await startRedisCluster();
    },
  });
  const server = () => {
    if (!cluster) throw new Error("The Redis Cluster of this file did not start");
    return cluster;
  };
  return {
    skip,
    urls: () => server().urls,
    server,
    registerStop() {
      Deno.test({
        name: `${label}: stop the Redis Cluster`,
        ignore: skip !== false,
        sanitizeResources: false,
        sanitizeOps: false,
        async fn() {
          await cluster?.stop();
        },
      });
    },
  };
}
