/**
 * The conformance suite on the Redis queue layer, on the shared `REDIS_URL` server (a fresh key
 * prefix per test).
 * One file per layer and harness (and part), so that `deno test --parallel` runs them side by
 * side.
 */
import { layerConformanceSuite } from "./conformance.ts";
import { redisSkipReason, sharedServerHarness } from "./redis_harness.ts";

const skip = redisSkipReason() || undefined;

layerConformanceSuite("redis queue", sharedServerHarness("queue"), {
  senderCapacity: true,
  localCapacity: "throws",
  expiry: true,
  groupExpiry: true,
  sharedState: true,
  storesUntilRead: true,
  foreignKeys: true,
  skip,
});
