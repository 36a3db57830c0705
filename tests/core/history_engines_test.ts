/**
 * History and recovery through a whole app (history_suite.ts) on the distributed engines: both
 * Redis layers on a private 3-master, 3-replica Redis Cluster (one for the file; `FLUSHALL` on
 * every master is the lost history), and the NATS layer on a private `nats-server -js` per test
 * (deleting its streams is the lost history).
 *
 * @module
 */
import { RedisPubSubChannelLayer, RedisQueueChannelLayer } from "../../adapters/redis/mod.ts";
import { NatsChannelLayer } from "../../adapters/nats/mod.ts";
import { type NatsServer, startNats } from "../../testing/nats_server.ts";
import { skipReason } from "../../testing/services.ts";
import { randomToken } from "../../src/layers/kit.ts";
import type { ChannelLayer } from "./deps.ts";
import { historySuite } from "./history_suite.ts";
import { clusterPerFile } from "../helpers/cluster_file.ts";
import { flushMasters } from "../helpers/cluster_nodes.ts";

const cluster = clusterPerFile("history on engines");

for (
  const [name, Layer] of [["pub/sub", RedisPubSubChannelLayer], [
    "queue",
    RedisQueueChannelLayer,
  ]] as const
) {
  historySuite(`redis cluster ${name}`, () => {
    const layer = new Layer({
      cluster: { rootNodes: cluster.urls() },
      prefix: `hc${randomToken(6)}`,
      backoff: { minDelayMs: 20, maxDelayMs: 200 },
    });
    return Promise.resolve(layer);
  }, {
    skip: cluster.skip || undefined,
    // FLUSHALL also empties the queue layer's memberships (restored only at its renewal).
    lose: name === "pub/sub" ? () => flushMasters(cluster.server()) : undefined,
  });
}

cluster.registerStop();

const natsServers = new WeakMap<ChannelLayer, NatsServer>();

historySuite("nats", async () => {
  const nats = await startNats();
  const layer = new NatsChannelLayer({
    servers: nats.url,
    backoff: { minDelayMs: 20, maxDelayMs: 200 },
  });
  const close = layer.close.bind(layer);
  layer.close = async () => {
    await close();
    await nats.stop();
  };
  natsServers.set(layer, nats);
  return layer;
}, {
  skip: skipReason("nats"),
  lose: (layer) => natsServers.get(layer)!.flush(),
});
