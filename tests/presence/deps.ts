/** What the presence tests import. */
export * from "../../mod.ts";
export * from "../../testing/mod.ts";
export { DiffMerge } from "../../src/presence/feed.ts";
export { default as assert } from "node:assert/strict";
