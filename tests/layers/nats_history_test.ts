/**
 * The history section of the conformance suite on the NATS layer (JetStream), on a private
 * `nats-server -js` started per test: a restart without its store loses the histories (the
 * epoch changes).
 *
 * @module
 */
import { LayerUnavailableError } from "../../src/layers/kit.ts";
import type { HistoryLayer } from "../../src/layers/history.ts";
import { historyConformanceSuite } from "./conformance_history.ts";
import { privateNatsHarness } from "./nats_harness.ts";
import { skipReason } from "../../testing/services.ts";

const PROBE = { size: 1, ttlMs: 1000 };

historyConformanceSuite("nats", privateNatsHarness(), {
  sharedState: true,
  async lose(h, layer, group) {
    await h.faults!.restart();
    // Back once a read goes through again (the client reconnects with backoff).
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
  skip: skipReason("nats"),
});
