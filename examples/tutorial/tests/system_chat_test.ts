import "./test_env.ts";
import assert from "node:assert/strict";
import { type MessageOf, Ping, Pong } from "../../../mod.ts";
import { WebsocketCommunicator } from "../../../testing/mod.ts";
import { app } from "../app.ts";
import { SystemMessageConsumer } from "../system/consumer.ts";
import { SystemEchoMessage, UserMessage } from "../system/messages.ts";

Deno.test("test_system_socket", async () => {
  await using comm = await WebsocketCommunicator.connect(app, "/ws/system", {
    consumer: SystemMessageConsumer,
  });
  // Receive connection message
  const initMessages = await comm.receiveAllMessages({ stopAction: "system_echo" });
  assert.equal(initMessages.length, 1);
  const initMessage = initMessages[0] as MessageOf<typeof SystemEchoMessage>;
  assert.equal(initMessage.payload.message, "🔧 System: Connection established!");

  // Test ping-pong
  await comm.sendMessage(Ping.create());
  let replies = await comm.receiveAllMessages();
  assert.equal(replies.length, 1);
  assert.deepEqual(replies, [Pong.create()]);

  // Test echo
  const testMessage = "This is a test message";
  await comm.sendMessage(UserMessage.create({ message: testMessage }));
  replies = await comm.receiveAllMessages();
  assert.equal(replies.length, 1);
  assert.deepEqual(replies, [
    SystemEchoMessage.create({ message: `🔧 System Echo: ${testMessage}` }),
  ]);
});
