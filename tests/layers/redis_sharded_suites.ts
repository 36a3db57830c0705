/**
 * The conformance suite of the Redis layers on three private servers started per test
 * (sharding, faults, and a check that `close()` left no connection), registered in parts by the
 * `redis_{pubsub,queue}_sharded_*_test.ts` files: one file per layer, part and slice, so that
 * `deno test --parallel` runs them side by side (the core part of one layer took 19–30 s alone).
 *
 * @module
 */
import { layerConformanceSuite, type SuitePart, type SuiteSlice } from "./conformance.ts";
import { privateServersHarness, type RedisKind, redisSkipReason } from "./redis_harness.ts";

/** Registers `part` (one `slice` of it) of the 3-host suite of the `kind` layer. */
export function shardedSuite(kind: RedisKind, part: SuitePart, slice?: SuiteSlice): void {
  const skip = redisSkipReason() || undefined;
  const common = { sharedState: true, foreignKeys: true, faults: true, restartable: true, skip };
  if (kind === "pubsub") {
    layerConformanceSuite(
      "redis pub/sub, 3 hosts",
      privateServersHarness("pubsub", 3),
      {
        senderCapacity: false,
        localCapacity: "drops",
        expiry: true,
        groupExpiry: false,
        ...common,
      },
      part,
      slice,
    );
  } else {
    layerConformanceSuite(
      "redis queue, 3 hosts",
      privateServersHarness("queue", 3),
      {
        senderCapacity: true,
        localCapacity: "throws",
        expiry: true,
        groupExpiry: true,
        storesUntilRead: true,
        ...common,
      },
      part,
      slice,
    );
  }
}
