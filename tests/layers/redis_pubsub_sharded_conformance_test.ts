/**
 * The conformance suite on the Redis pub/sub layer, on three private servers started per test
 * (sharding, and a check that `close()` left no connection): every case but the fault and
 * reconnect ones, which are in redis_pubsub_sharded_faults_test.ts.
 * One file per layer and harness (and part), so that `deno test --parallel` runs them side by
 * side.
 */
import { layerConformanceSuite } from "./conformance.ts";
import { privateServersHarness, redisSkipReason } from "./redis_harness.ts";

const skip = redisSkipReason() || undefined;

layerConformanceSuite("redis pub/sub, 3 hosts", privateServersHarness("pubsub", 3), {
  senderCapacity: false,
  localCapacity: "drops",
  expiry: true,
  groupExpiry: false,
  sharedState: true,
  foreignKeys: true,
  faults: true,
  restartable: true,
  skip,
}, "core");
