/**
 * History and recovery through a whole app on both Redis layers (history_suite.ts), each test on
 * a private Redis server (testing/services.ts); FLUSHALL is the lost history.
 */
import { RedisPubSubChannelLayer, RedisQueueChannelLayer } from "../../adapters/redis/mod.ts";
import { type RedisServer, startRedis } from "../../testing/redis_server.ts";
import { skipReason } from "../../testing/services.ts";
import type { ChannelLayer } from "./deps.ts";
import { historySuite } from "./history_suite.ts";

const servers = new WeakMap<ChannelLayer, RedisServer>();

for (
  const [name, Layer] of [["pub/sub", RedisPubSubChannelLayer], [
    "queue",
    RedisQueueChannelLayer,
  ]] as const
) {
  historySuite(`redis ${name}`, async () => {
    const redis = await startRedis();
    const layer = new Layer({ url: redis.url });
    const close = layer.close.bind(layer);
    layer.close = async () => {
      await close();
      await redis.stop();
    };
    servers.set(layer, redis);
    return layer;
  }, {
    skip: skipReason("redis"),
    // FLUSHALL also empties the queue layer's memberships (restored only at its renewal).
    lose: name === "pub/sub" ? (layer) => servers.get(layer)!.flush() : undefined,
  });
}
