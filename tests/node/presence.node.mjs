/** Presence on Node (issue #22): tracked on connect, the presence request, batched diffs. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { App, Consumer, presenceBackends } from "@switchboard/switchboard";
import { harness, TRANSPORTS } from "./helpers.mjs";

class Lobby extends Consumer {
  static groups = ["lobby"];
  static presence = { key: (c) => c.query.get("user") ?? "anon", diffs: true, intervalMs: 20 };
}

for (const transport of TRANSPORTS) {
  describe(`presence (${transport})`, () => {
    const app = new App().ws("/ws/lobby", Lobby);
    let h;
    before(async () => (h = await harness(app, transport)));
    after(() => h.close());

    it("three tabs are one key; the last close is the only leave", async () => {
      const watcher = await h.connect("/ws/lobby?user=w");
      await watcher.assertReceives("presence_diff");
      const tabs = [];
      for (let i = 0; i < 3; i++) tabs.push(await h.connect("/ws/lobby?user=ann"));
      const joined = await watcher.assertReceives("presence_diff");
      assert.deepEqual(Object.keys(joined.payload.joins), ["ann"]);
      await tabs[0].disconnect();
      await tabs[1].disconnect();
      await watcher.sendJson({ action: "presence", payload: { group: "lobby" } });
      let reply = await watcher.assertReceives("presence");
      for (let i = 0; i < 50 && reply.payload.entries.ann?.length !== 1; i++) {
        await watcher.sendJson({ action: "presence", payload: { group: "lobby" } });
        reply = await watcher.assertReceives("presence");
      }
      assert.equal(reply.payload.entries.ann.length, 1);
      await tabs[2].disconnect();
      const left = await watcher.assertReceives("presence_diff");
      assert.deepEqual(left.payload.leaves, { ann: [{}] });
      await watcher.disconnect();
      // Over a socket, disconnect() resolves at the closing handshake; the server untracks the
      // watcher in its onDisconnect right after: read until it has (bounded).
      let stats = await presenceBackends.get().stats("lobby");
      for (let i = 0; i < 200 && stats.keys !== 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
        stats = await presenceBackends.get().stats("lobby");
      }
      assert.deepEqual(stats, { keys: 0, connections: 0 });
    });
  });
}
