/**
 * The conformance suite on the Redis queue layer, on three private servers started per test
 * (sharding, and a check that `close()` left no connection): every case but the fault and
 * reconnect ones, which are in redis_queue_sharded_faults_test.ts.
 * One file per layer and harness (and part), so that `deno test --parallel` runs them side by
 * side.
 */
import { layerConformanceSuite } from "./conformance.ts";
import { privateServersHarness, redisSkipReason } from "./redis_harness.ts";

const skip = redisSkipReason() || undefined;

layerConformanceSuite("redis queue, 3 hosts", privateServersHarness("queue", 3), {
  senderCapacity: true,
  localCapacity: "throws",
  expiry: true,
  groupExpiry: true,
  sharedState: true,
  storesUntilRead: true,
  foreignKeys: true,
  faults: true,
  restartable: true,
  skip,
}, "core");
