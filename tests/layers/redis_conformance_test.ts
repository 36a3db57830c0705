/**
 * The conformance suite on both Redis layers: on the shared `REDIS_URL` server, and on three
 * private servers started per test (sharding, and a check that `close()` left no connection).
 */
import { layerConformanceSuite } from "./conformance.ts";
import { LayerUnavailableError } from "../../src/layers/kit.ts";
import type { HistoryLayer } from "../../src/layers/history.ts";
import { historyConformanceSuite } from "./conformance_history.ts";
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

const PROBE = { size: 1, ttlMs: 1000 };
for (const kind of ["pubsub", "queue"] as const) {
  historyConformanceSuite(
    `redis ${kind === "pubsub" ? "pub/sub" : kind}`,
    privateServersHarness(kind, 2),
    {
      sharedState: true,
      async lose(h, layer, group) {
        await h.faults!.restart();
        // Back once a command to the group's host goes through again (the queue layer signals
        // no resync without readers): the reconnect is the event, a read the probe.
        const deadline = Date.now() + 20_000;
        for (;;) {
          try {
            return void await (layer as HistoryLayer).readSince(group, undefined, PROBE);
          } catch (error) {
            if (!(error instanceof LayerUnavailableError) || Date.now() > deadline) throw error;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      },
      skip,
    },
  );
}
