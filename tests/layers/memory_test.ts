/** The conformance suite on the in-memory layer. */
import type { ChannelLayer } from "../../src/layers/kit.ts";
import { InMemoryChannelLayer } from "../../adapters/memory/mod.ts";
import { layerConformanceSuite, type LayerTestOptions } from "./conformance.ts";
import { historyConformanceSuite } from "./conformance_history.ts";

layerConformanceSuite("memory", () => {
  const made: ChannelLayer[] = [];
  return Promise.resolve({
    make(options: LayerTestOptions = {}) {
      const { onDrop: _ignored, encryptionKeys: _none, ...rest } = options;
      const layer = new InMemoryChannelLayer(rest);
      made.push(layer);
      return Promise.resolve(layer);
    },
    async dispose() {
      await Promise.all(made.map((l) => l.close()));
    },
  });
}, {
  senderCapacity: true,
  localCapacity: "throws",
  expiry: true,
  groupExpiry: false,
  sharedState: false,
  fakeClock: true,
});

Deno.test("memory layer: bad input rejects (never throws synchronously), also for an empty group", async () => {
  const { InMemoryChannelLayer } = await import("../../adapters/memory/mod.ts");
  const { default: assert } = await import("node:assert/strict");
  const layer = new InMemoryChannelLayer();
  const bad = "¯\\_(ツ)_/¯";
  for (
    const call of [
      () => layer.send(bad, { type: "x" }),
      () => layer.receive(bad),
      () => layer.groupAdd(bad, "ch"),
      () => layer.groupDiscard("g", bad),
      () => layer.groupSend("g", { type: 5 } as never), // a group with no members still validates
    ]
  ) {
    let promise: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      promise = call();
    });
    await assert.rejects(promise!);
  }
  await layer.close();
});

historyConformanceSuite("memory", () => {
  const made: ChannelLayer[] = [];
  return Promise.resolve({
    make() {
      const layer = new InMemoryChannelLayer();
      made.push(layer);
      return Promise.resolve(layer);
    },
    async dispose() {
      await Promise.all(made.map((l) => l.close()));
    },
  });
}, { sharedState: false, lose: (_h, layer) => layer.flush() });
