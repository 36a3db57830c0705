/**
 * The history section of the conformance suite on the NATS layer (JetStream), on a private
 * `nats-server -js` started per test: a restart without its store loses the histories (the
 * epoch changes).
 *
 * @module
 */
import assert from "node:assert/strict";
import { LayerUnavailableError } from "../../src/layers/kit.ts";
import type { HistoryLayer } from "../../src/layers/history.ts";
import { historyConformanceSuite } from "./conformance_history.ts";
import { MessageTooLargeError } from "../../adapters/nats/mod.ts";
import { makeNatsLayer, privateNatsHarness, startTestNats } from "./nats_harness.ts";
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

Deno.test({
  name: "nats: history: a restart with its store keeps the history and its epoch",
  ignore: skipReason("nats") !== undefined,
  async fn() {
    const nats = await startTestNats();
    const layer = makeNatsLayer({ servers: nats.server.url }, "keep");
    try {
      const options = { size: 100, ttlMs: 60_000 };
      let last;
      for (let n = 1; n <= 5; n++) {
        last = await layer.appendAndSend("room", { type: "m", n }, options);
      }
      await nats.server.restart({ keepData: true });
      const deadline = Date.now() + 20_000;
      let read;
      for (;;) {
        try {
          read = await layer.readSince("room", { offset: 2, epoch: last!.epoch }, options);
          break;
        } catch (error) {
          if (!(error instanceof LayerUnavailableError) || Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      assert.ok(read.recovered, JSON.stringify(read));
      assert.deepEqual(read.messages.map((m) => m.message.n), [3, 4, 5]);
      assert.deepEqual(read.position, last);
      const next = await layer.appendAndSend("room", { type: "m", n: 6 }, options);
      assert.deepEqual(next, { offset: 6, epoch: last!.epoch });
    } finally {
      await layer.close();
      await nats.stop();
    }
  },
});

Deno.test({
  name: "nats: history: a message too large for the server is refused before it is appended",
  ignore: skipReason("nats") !== undefined,
  async fn() {
    const nats = await startTestNats(); // max_payload 8 MB
    const layer = makeNatsLayer({ servers: nats.server.url }, "large");
    try {
      const options = { size: 10, ttlMs: 60_000 };
      await assert.rejects(
        layer.appendAndSend("room", { type: "m", text: "x".repeat(9 * 1024 * 1024) }, options),
        MessageTooLargeError,
      );
      const read = await layer.readSince("room", undefined, options);
      assert.equal(read.position.offset, 0, "nothing was appended");
    } finally {
      await layer.close();
      await nats.stop();
    }
  },
});
