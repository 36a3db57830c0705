/**
 * The room chat with history on (CHAT_HISTORY, docs/recovery.md): a member that drops and comes
 * back with its last position gets the lines it missed, then `history_recovery`.
 */
import "./test_env.ts";
import assert from "node:assert/strict";
import { WebsocketCommunicator } from "../../../testing/mod.ts";
import { app } from "../app.ts";
import { RoomChatConsumer } from "../room_chat/consumer.ts";
import { RoomChatMessage } from "../room_chat/messages.ts";

type Frame = { action: string; payload: Record<string, unknown>; position?: unknown };

Deno.test("room chat with history: a member that reconnects gets the lines it missed", async () => {
  const off = RoomChatConsumer.history;
  RoomChatConsumer.history = { size: 100, ttlMs: 60_000 };
  const path = `/ws/room/history-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const away = await WebsocketCommunicator.connect(app, path, { consumer: RoomChatConsumer });
    const start = await away.receiveJson() as Frame;
    assert.equal(start.action, "history_position");
    const group = start.payload.group as string;
    await using stays = await WebsocketCommunicator.connect(app, path, {
      consumer: RoomChatConsumer,
    });
    assert.equal((await stays.receiveJson() as Frame).action, "history_position");
    const joined = await away.receiveJson() as Frame; // "Someone joined", with its position
    const at = joined.position as { offset: number; epoch: string };
    await away.drop();
    for (const line of ["one", "two", "three"]) {
      await stays.sendMessage(RoomChatMessage.create({ message: line }));
    }
    // All three were broadcast (the member that stayed got the last one).
    while ((await stays.receiveJson() as Frame).payload?.message !== "💬 three");
    const recover = encodeURIComponent(JSON.stringify({ groups: { [group]: at } }));
    await using back = await WebsocketCommunicator.connect(app, `${path}?recover=${recover}`, {
      consumer: RoomChatConsumer,
    });
    const lines = [];
    for (;;) {
      const frame = await back.receiveJson() as Frame;
      if (frame.action === "history_recovery") {
        assert.equal(frame.payload.recovered, true);
        break;
      }
      if (frame.action === "room_notification") lines.push(frame.payload.message);
    }
    assert.deepEqual(lines, [
      "👋 Someone left room '" + path.split("/").pop() + "'",
      "💬 one",
      "💬 two",
      "💬 three",
    ]);
  } finally {
    RoomChatConsumer.history = off;
  }
});
