/** The conformance suite on the in-memory layer. */
import type { ChannelLayer } from "../../src/layer_api.ts";
import { InMemoryChannelLayer } from "../../adapters/memory/mod.ts";
import { layerConformanceSuite, type LayerTestOptions } from "./conformance.ts";

layerConformanceSuite("memory", () => {
  const made: ChannelLayer[] = [];
  return Promise.resolve({
    make(options: LayerTestOptions = {}) {
      const { onDrop: _ignored, ...rest } = options;
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
  groupExpiry: true,
  sharedState: false,
});
