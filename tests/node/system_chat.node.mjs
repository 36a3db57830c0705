/** Tutorial part 1 on Node: the system echo endpoint, over real sockets and in-process. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Ping, Pong } from "@switchboard/switchboard";
import {
  createApp,
  SystemEchoMessage,
  SystemMessageConsumer,
  UserMessage,
} from "../../examples/node/app.mjs";
import { harness, TRANSPORTS } from "./helpers.mjs";

for (const transport of TRANSPORTS) {
  describe(`system chat (${transport})`, () => {
    const app = createApp();
    let h;
    before(async () => (h = await harness(app, transport)));
    after(() => h.close());

    it("test_system_socket", async () => {
      const comm = await h.connect("/ws/system", { consumer: SystemMessageConsumer });
      try {
        // Receive connection message
        const initMessages = await comm.receiveAllMessages({ stopAction: "system_echo" });
        assert.equal(initMessages.length, 1);
        assert.equal(initMessages[0].payload.message, "🔧 System: Connection established!");

        // Test ping-pong
        await comm.sendMessage(Ping.create());
        let replies = await comm.receiveAllMessages();
        assert.deepEqual(replies, [Pong.create()]);

        // Test echo
        const testMessage = "This is a test message";
        await comm.sendMessage(UserMessage.create({ message: testMessage }));
        replies = await comm.receiveAllMessages();
        assert.deepEqual(replies, [
          SystemEchoMessage.create({ message: `🔧 System Echo: ${testMessage}` }),
        ]);
      } finally {
        await comm.disconnect();
      }
    });

    it("answers an invalid payload with an error frame and keeps the socket", async () => {
      const comm = await h.connect("/ws/system", { consumer: SystemMessageConsumer });
      try {
        await comm.receiveAllMessages({ stopAction: "system_echo" });
        await comm.sendJson({ action: "user_message", payload: { message: 42 } });
        const [error] = await comm.receiveAllMessages();
        assert.equal(error.action, "error");
        await comm.sendMessage(Ping.create());
        assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
      } finally {
        await comm.disconnect();
      }
    });
  });
}
