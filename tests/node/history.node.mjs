/**
 * History and recovery on Node (docs/recovery.md), over a real socket and in-process: a member
 * that drops and reconnects with the testing kit's PositionTracker gets what it missed, then
 * `history_recovery`.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { App, Consumer, message, onMessage, registerHandlers } from "@switchboard/switchboard";
import { PositionTracker } from "@switchboard/switchboard/testing";
import { z } from "zod";
import { harness, TRANSPORTS } from "./helpers.mjs";

const Post = message("post", z.object({ n: z.number() }));
const Posted = message("posted", z.object({ n: z.number() }));

class Chat extends Consumer {
  static groups = ["node-history"];
  static history = { size: 100, ttlMs: 60_000 };
  async handlePost(m) {
    await this.broadcastMessage(Posted.create(m.payload));
  }
}
registerHandlers(Chat, { handlePost: onMessage(Post) });

for (const transport of TRANSPORTS) {
  describe(`history on Node (${transport})`, () => {
    it("a member that reconnects with its last position gets what it missed", async () => {
      const h = await harness(new App().ws("/chat", Chat), transport);
      try {
        const sender = await h.connect("/chat");
        await sender.receiveJson();
        const tracker = new PositionTracker();
        const away = await h.connect("/chat");
        tracker.track(await away.receiveJson());
        await sender.sendMessage(Post.create({ n: 1 }));
        tracker.track(await away.receiveJson());
        await away.disconnect();
        await sender.receiveJson();
        for (const n of [2, 3]) await sender.sendMessage(Post.create({ n }));
        await sender.receiveJson();
        await sender.receiveJson();
        const last = tracker.groups.get("node-history").offset;
        const back = await h.connect(tracker.path("/chat"));
        for (const n of [2, 3]) {
          const frame = await back.receiveJson();
          assert.deepEqual(frame.payload, { n });
          assert.equal(frame.position.offset, last + n - 1);
        }
        const outcome = await back.receiveJson();
        assert.equal(outcome.action, "history_recovery");
        assert.equal(outcome.payload.recovered, true);
        assert.equal(outcome.payload.replayed, 2);
        await back.disconnect();
        await sender.disconnect();
      } finally {
        await h.close();
      }
    });
  });
}
