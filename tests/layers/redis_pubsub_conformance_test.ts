/**
 * The conformance suite on the Redis pub/sub layer, on the shared `REDIS_URL` server (a fresh
 * key prefix per test).
 * One file per layer and harness (and part), so that `deno test --parallel` runs them side by
 * side.
 */
import { layerConformanceSuite } from "./conformance.ts";
import { redisSkipReason, sharedServerHarness } from "./redis_harness.ts";

const skip = redisSkipReason() || undefined;

layerConformanceSuite("redis pub/sub", sharedServerHarness("pubsub"), {
  senderCapacity: false,
  localCapacity: "drops",
  expiry: true,
  groupExpiry: false,
  sharedState: true,
  foreignKeys: true,
  skip,
});
