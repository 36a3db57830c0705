/**
 * The conformance suite on both Redis layers: on the shared `REDIS_URL` server, and on three
 * private servers started per test (sharding, and a check that `close()` left no connection).
 */
import { layerConformanceSuite } from "./conformance.ts";
import { privateServersHarness, redisSkipReason, sharedServerHarness } from "./redis_harness.ts";

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
});

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
});
