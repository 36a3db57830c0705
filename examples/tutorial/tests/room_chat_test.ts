import "./test_env.ts";
import assert from "node:assert/strict";
import { type MessageOf, Ping, Pong } from "../../../mod.ts";
import { GROUP_ACTION_COMPLETE, WebsocketCommunicator } from "../../../testing/mod.ts";
import { app } from "../app.ts";
import { RoomChatConsumer } from "../room_chat/consumer.ts";
import { RoomChatMessage, RoomNotificationMessage } from "../room_chat/messages.ts";

Deno.test("test_room_chat_ping", async () => {
  const roomName = "my-room";
  await using comm = await WebsocketCommunicator.connect(app, `/ws/room/${roomName}`, {
    consumer: RoomChatConsumer,
  });
  await comm.sendMessage(Ping.create());
  const replies = await comm.receiveAllMessages();
  assert.deepEqual(replies, [Pong.create()]);
});

Deno.test("test_room_chat_broadcast_messaging", async () => {
  const roomName = "my-room";

  // Create two clients in the same room
  const firstComm = new WebsocketCommunicator(app, `/ws/room/${roomName}`, {
    consumer: RoomChatConsumer,
  });
  const secondComm = new WebsocketCommunicator(app, `/ws/room/${roomName}`, {
    consumer: RoomChatConsumer,
  });

  // Connect first client
  await firstComm.connect();
  assert.ok(await firstComm.receiveNothing());

  // Connect second client
  await secondComm.connect();

  // First client should receive join notification
  const notifiedMessages = await firstComm.receiveAllMessages({
    stopAction: GROUP_ACTION_COMPLETE,
  });
  assert.equal(notifiedMessages.length, 1);
  const notifiedMessage = notifiedMessages[0] as MessageOf<typeof RoomNotificationMessage>;
  assert.equal(notifiedMessage.payload.message, `🚪 Someone joined room '${roomName}'`);

  // Second client doesn't see their own join (excludeCurrent: true)
  assert.ok(await secondComm.receiveNothing());

  // First client sends message
  const roomMessage = "This is a test message";
  const expectedMessage = RoomNotificationMessage.create({
    message: `💬 ${roomMessage}`,
    room_name: roomName,
    status: "PENDING",
  });

  await firstComm.sendMessage(RoomChatMessage.create({ message: roomMessage }));

  // First client receives their own broadcast (excludeCurrent is false for chat lines)
  const firstCommReplies = await firstComm.receiveAllMessages({
    stopAction: GROUP_ACTION_COMPLETE,
  });
  assert.equal(firstCommReplies.length, 1);
  assert.deepEqual(firstCommReplies, [expectedMessage]);

  // Second client also receives the message
  const secondCommReplies = await secondComm.receiveAllMessages({
    stopAction: GROUP_ACTION_COMPLETE,
  });
  assert.equal(secondCommReplies.length, 1);
  assert.deepEqual(secondCommReplies, [expectedMessage]);

  await firstComm.disconnect();
  await secondComm.disconnect();
});
