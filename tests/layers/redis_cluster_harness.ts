/**
 * The conformance harness on a Redis Cluster: layers of one harness share a fresh key prefix on
 * the file's cluster ({@linkcode clusterPerFile}); `dispose` closes them and flushes the queue
 * layer's keys.
 *
 * @module
 */
import type { ChannelLayer } from "../../src/layers/kit.ts";
import { randomToken } from "../../src/layers/kit.ts";
import { RedisPubSubChannelLayer, RedisQueueChannelLayer } from "../../adapters/redis/mod.ts";
import type { ForeignKeys, LayerHarness, LayerTestOptions } from "./conformance.ts";
import { createCluster } from "redis";
import type { ClusterOfFile } from "../helpers/cluster_file.ts";
import type { RedisKind } from "./redis_harness.ts";

/** Makes a layer of `kind` on the cluster at `rootNodes`. */
export function makeClusterLayer(
  kind: RedisKind,
  rootNodes: string[],
  prefix: string,
  options: LayerTestOptions = {},
): RedisPubSubChannelLayer | RedisQueueChannelLayer {
  const common = {
    cluster: { rootNodes },
    prefix,
    capacity: options.capacity,
    channelCapacity: options.channelCapacity,
    expiry: options.expiry,
    encryptionKeys: options.encryptionKeys,
    onDrop: options.onDrop as never,
    backoff: { minDelayMs: 20, maxDelayMs: 200 },
    timeouts: options.timeouts,
  };
  return kind === "pubsub"
    ? new RedisPubSubChannelLayer(common)
    : new RedisQueueChannelLayer({ ...common, groupExpiry: options.groupExpiry });
}

/**
 * Plants keys that others own next to a layer's (as `plantForeignKeys` of redis_harness.ts does
 * on standalone servers), through a cluster client: each lands on the master of its slot.
 */
async function plantOnCluster(rootNodes: string[], prefix: string): Promise<ForeignKeys> {
  const names = [
    `${prefix}:jobs:default:ready`,
    `${prefix}:jobs:{default}:job:1`,
    `${prefix}:qx`,
    `${prefix}:q`,
    `${prefix}:groups`,
    `${prefix}:other:thing`,
  ];
  const client = createCluster({ rootNodes: rootNodes.map((url) => ({ url })) });
  client.on("error", () => {});
  await client.connect();
  try {
    await client.sendCommand(names[0], false, ["ZADD", names[0], "1", "job-1"]);
    await client.sendCommand(names[1], false, ["HSET", names[1], "state", "queued"]);
    for (const name of names.slice(2)) await client.sendCommand(name, false, ["SET", name, "x"]);
  } catch (error) {
    await client.close();
    throw error;
  }
  return {
    planted: names.length,
    async count() {
      let n = 0;
      for (const name of names) n += Number(await client.sendCommand(name, true, ["EXISTS", name]));
      return n;
    },
    async remove() {
      try {
        for (const name of names) await client.sendCommand(name, false, ["DEL", name]);
      } finally {
        await client.close();
      }
    },
  };
}

/** A harness on the file's cluster, with a key prefix of its own. */
export function clusterHarness(
  kind: RedisKind,
  cluster: ClusterOfFile,
): () => Promise<LayerHarness> {
  return () => {
    const prefix = `sbtest${randomToken(8)}`;
    const made: ChannelLayer[] = [];
    return Promise.resolve({
      async make(options?: LayerTestOptions) {
        const layer = makeClusterLayer(kind, cluster.urls(), prefix, options);
        made.push(layer);
        await layer.connect();
        return layer;
      },
      plantForeignKeys: () => plantOnCluster(cluster.urls(), prefix),
      listen: (layer: ChannelLayer, channel: string) =>
        layer instanceof RedisPubSubChannelLayer ? layer.listen(channel) : Promise.resolve(),
      async dispose() {
        await Promise.all(made.map((l) => l.close()));
        if (kind === "queue") {
          const cleaner = new RedisQueueChannelLayer({
            cluster: { rootNodes: cluster.urls() },
            prefix,
          });
          try {
            await cleaner.flush();
          } finally {
            await cleaner.close();
          }
        }
      },
    });
  };
}
