/** The topic classes of the hub. */
import { type MessageOf, Topic, wsHandler } from "../../../mod.ts";
import { EchoMessage, PostedMessage, PostMessage, PresenceChanged, RoomEvent } from "./messages.ts";

/** A chat room, addressed as room:<roomName>. */
export class RoomTopic extends Topic<MessageOf<typeof RoomEvent>> {
  static override pattern = "room:{roomName}";
  static override layer = "chat";
  static override passthroughEvents = [RoomEvent];

  @wsHandler(PostMessage, { summary: "Post to a room", output: RoomEvent })
  async handlePost(message: MessageOf<typeof PostMessage>): Promise<void> {
    await RoomTopic.broadcast(this.topic, RoomEvent.create(message.payload));
  }

  @wsHandler(EchoMessage, { summary: "Acknowledge without broadcasting", output: PostedMessage })
  handleEcho(message: MessageOf<typeof EchoMessage>): MessageOf<typeof PostedMessage> {
    return PostedMessage.create(message.payload);
  }
}

/** Presence for one user, addressed as presence:<user>. Server pushes only. */
export class PresenceTopic extends Topic<MessageOf<typeof PresenceChanged>> {
  static override pattern = "presence:{user}";
  static override layer = "chat";
  static override passthroughEvents = [PresenceChanged];
}
