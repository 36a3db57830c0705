/** The topic rules over the Redis pub/sub layer (skipped without REDIS_URL). */
import { RedisPubSubChannelLayer } from "../../adapters/redis/mod.ts";
import { topicsSuite } from "./topics_suite.ts";

const url = Deno.env.get("REDIS_URL");
if (!url) {
  console.log("topics over Redis pub/sub: skipped (set REDIS_URL to run them)");
} else {
  topicsSuite(
    "redis pub/sub",
    () => new RedisPubSubChannelLayer({ url, prefix: `topics-${crypto.randomUUID().slice(0, 8)}` }),
  );
}
