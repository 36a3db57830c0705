/**
 * The history section of the conformance suite on both Redis layers, on private servers (a
 * restart without persistence loses the history: the epoch changes).
 */
import { LayerUnavailableError } from "../../src/layers/kit.ts";
import type { HistoryLayer } from "../../src/layers/history.ts";
import { historyConformanceSuite } from "./conformance_history.ts";
import { privateServersHarness, redisSkipReason } from "./redis_harness.ts";

const skip = redisSkipReason() || undefined;
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
