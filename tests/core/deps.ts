/** What the core tests import from the library. */
export * from "../../mod.ts";
export * from "../../testing/mod.ts";
export { InMemoryChannelLayer as InMemoryChannelLayerForTests } from "../../adapters/memory/mod.ts";
export { default as assert } from "node:assert/strict";
