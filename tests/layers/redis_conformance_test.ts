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
  skip,
});

layerConformanceSuite("redis pub/sub, 3 hosts", privateServersHarness("pubsub", 3), {
  senderCapacity: false,
  localCapacity: "drops",
  expiry: true,
  groupExpiry: false,
  sharedState: true,
  faults: true,
  skip,
});

layerConformanceSuite("redis queue", sharedServerHarness("queue"), {
  senderCapacity: true,
  localCapacity: "drops",
  expiry: true,
  groupExpiry: true,
  sharedState: true,
  skip,
});

layerConformanceSuite("redis queue, 3 hosts", privateServersHarness("queue", 3), {
  senderCapacity: true,
  localCapacity: "drops",
  expiry: true,
  groupExpiry: true,
  sharedState: true,
  faults: true,
  // Known defect, fixed on the queue-layer branch: memberships are not restored after a restart.
  skipRestart: "queue layer: memberships are not restored after a Redis restart yet (issue 15.2)",
  skip,
});
