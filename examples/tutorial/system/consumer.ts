/** Tutorial part 1: a direct echo endpoint without channel layers, at /ws/system. */
import { channel, type MessageOf, Ping, Pong, wsHandler } from "../../../mod.ts";
import { BaseConsumer } from "../base_consumer.ts";
import { SystemEchoMessage, UserMessage } from "./messages.ts";

/** Echoes user messages back to the sender. */
@channel({
  name: "system",
  description: "System Messages Consumer - Direct WebSocket without channel layers",
  tags: ["system", "direct"],
})
export class SystemMessageConsumer extends BaseConsumer {
  /** No channel layer: no groups, no events. */
  static override layer: null = null;

  override async postAuthentication(): Promise<void> {
    await this.sendMessage(
      SystemEchoMessage.create({ message: "🔧 System: Connection established!" }),
    );
  }

  @wsHandler(Ping, { output: Pong, summary: "Handle ping requests" })
  handlePing(_message: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(UserMessage, {
    output: SystemEchoMessage,
    summary: "Handle message user send to system",
    description: "Echo system messages back directly without using channel layers",
  })
  handleSystem(message: MessageOf<typeof UserMessage>): MessageOf<typeof SystemEchoMessage> {
    return SystemEchoMessage.create({ message: `🔧 System Echo: ${message.payload.message}` });
  }
}
