/** The topic hub at /ws/topics and the standalone room topic at /ws/topics/room/:roomName. */
import { channel, type MessageOf, Ping, Pong, wsHandler } from "../../../mod.ts";
import { BaseConsumer } from "../base_consumer.ts";
import { PresenceTopic, RoomTopic } from "./topics.ts";

/** Several topics multiplexed over a single connection. */
@channel({
  name: "topic_hub",
  description: "Several topics multiplexed over a single connection",
  tags: ["topics"],
})
export class TopicHubConsumer extends BaseConsumer {
  static override layer = "chat";
  static override topics = [RoomTopic, PresenceTopic];

  @wsHandler(Ping, { output: Pong, summary: "Handle ping requests" })
  handlePing(_message: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
}

/** One room topic per connection: `/ws/topics/room/lobby` subscribes to `room:lobby`. */
export const RoomTopicConsumer = RoomTopic.asConsumer(BaseConsumer);
