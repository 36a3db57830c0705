/** Tutorial part 2 on Node: room chat with broadcasts, over real sockets and in-process. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Ping, Pong } from "@switchboard/switchboard";
import { GROUP_ACTION_COMPLETE } from "@switchboard/switchboard/testing";
import {
  createApp,
  RoomChatConsumer,
  RoomChatMessage,
  RoomNotificationMessage,
} from "../../examples/node/app.mjs";
import { harness, TRANSPORTS } from "./helpers.mjs";

for (const transport of TRANSPORTS) {
  describe(`room chat (${transport})`, () => {
    const app = createApp();
    let h;
    before(async () => (h = await harness(app, transport)));
    after(() => h.close());

    it("test_room_chat_ping", async () => {
      const comm = await h.connect("/ws/room/my-room", { consumer: RoomChatConsumer });
      try {
        await comm.sendMessage(Ping.create());
        assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
      } finally {
        await comm.disconnect();
      }
    });

    it("test_room_chat_broadcast_messaging", async () => {
      const roomName = "my-room";
      const firstComm = h.communicator(`/ws/room/${roomName}`, { consumer: RoomChatConsumer });
      const secondComm = h.communicator(`/ws/room/${roomName}`, { consumer: RoomChatConsumer });
      try {
        // Connect first client
        await firstComm.connect();
        assert.ok(await firstComm.receiveNothing());

        // Connect second client: the first one is told
        await secondComm.connect();
        const notified = await firstComm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
        assert.equal(notified.length, 1);
        assert.equal(notified[0].payload.message, `🚪 Someone joined room '${roomName}'`);

        // Second client doesn't see their own join (excludeCurrent: true)
        assert.ok(await secondComm.receiveNothing());

        // First client posts; both receive the line
        const roomMessage = "This is a test message";
        const expected = RoomNotificationMessage.create({
          message: `💬 ${roomMessage}`,
          room_name: roomName,
          status: "PENDING",
        });
        await firstComm.sendMessage(RoomChatMessage.create({ message: roomMessage }));
        assert.deepEqual(
          await firstComm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }),
          [expected],
        );
        assert.deepEqual(
          await secondComm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }),
          [expected],
        );

        // Rooms are isolated
        const other = await h.connect("/ws/room/other-room", { consumer: RoomChatConsumer });
        try {
          await firstComm.sendMessage(RoomChatMessage.create({ message: "only my-room" }));
          await firstComm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
          await secondComm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
          assert.ok(await other.receiveNothing());
        } finally {
          await other.disconnect();
        }

        // The second client leaves: the first one is told
        await secondComm.disconnect();
        const left = await firstComm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
        assert.equal(left[0].payload.message, `👋 Someone left room '${roomName}'`);
      } finally {
        await firstComm.disconnect();
        await secondComm.disconnect();
      }
    });
  });
}
