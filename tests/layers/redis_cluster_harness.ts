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
import type { LayerHarness, LayerTestOptions } from "./conformance.ts";
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
