/** Tutorial part 2: rooms at /ws/room/:roomName, isolated from each other. */
import {
  channel,
  type MessageOf,
  Ping,
  Pong,
  type PresenceOptions,
  safeGroupName,
  wsHandler,
} from "../../../mod.ts";
import { BaseConsumer } from "../base_consumer.ts";
import { chatHistory } from "../settings.ts";
import { RoomChatMessage, RoomNotificationMessage } from "./messages.ts";

/** Dynamic room-based chat: joins `room.<name>` on connect, announces joins and leaves. */
@channel({
  name: "room_chat",
  description: "Room Chat Consumer - Dynamic room-based messaging",
  tags: ["chat", "rooms"],
})
export class RoomChatConsumer extends BaseConsumer {
  static override layer = "chat";
  /** A history per room: a client that reconnects gets what it missed (docs/recovery.md). */
  static override history = chatHistory();
  /** Joins, leaves and chat lines go to the room's group: typed clients receive them. */
  static override broadcasts = [RoomNotificationMessage];
  /**
   * Who is online: each connection is tracked in its room under `?user=` (else one guest key per
   * connection); clients ask with `presence()` and get diffs with `{diffs: true}`.
   */
  static override presence: PresenceOptions<RoomChatConsumer> | undefined = {
    key: (c) => c.query.get("user")?.slice(0, 64) || `guest-${c.channelName.slice(-6)}`,
    groups: (c) => [c.roomGroup],
  };

  /** The room name from the path. */
  get roomName(): string {
    return this.params.roomName;
  }

  /** The room's group (sanitised: any room name is safe). */
  get roomGroup(): string {
    return safeGroupName([this.roomName], "room");
  }

  override async postAuthentication(): Promise<void> {
    await this.joinGroup(this.roomGroup);
    await this.broadcastMessage(
      RoomNotificationMessage.create({
        message: `🚪 Someone joined room '${this.roomName}'`,
        room_name: this.roomName,
        status: "PENDING",
      }),
      { groups: [this.roomGroup], excludeCurrent: true },
    );
  }

  override async onDisconnect(): Promise<void> {
    await this.broadcastMessage(
      RoomNotificationMessage.create({
        message: `👋 Someone left room '${this.roomName}'`,
        room_name: this.roomName,
        status: "PENDING",
      }),
      { groups: [this.roomGroup], excludeCurrent: true },
    );
  }

  @wsHandler(Ping, { output: Pong, summary: "Handle ping requests" })
  handlePing(_message: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(RoomChatMessage, {
    output: RoomNotificationMessage,
    summary: "Handle room chat messages",
    description: "Process room chat messages and broadcast to room members",
  })
  async handleRoomChat(message: MessageOf<typeof RoomChatMessage>): Promise<void> {
    await this.broadcastMessage(
      RoomNotificationMessage.create({
        message: `💬 ${message.payload.message}`,
        room_name: this.roomName,
        status: "PENDING",
      }),
      { groups: [this.roomGroup] },
    );
  }
}
