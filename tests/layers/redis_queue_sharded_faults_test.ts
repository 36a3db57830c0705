/**
 * The fault and reconnect cases of the conformance suite on the Redis queue layer, on three
 * private servers started per test (restart, pause, proxies).
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
}, "faults");
