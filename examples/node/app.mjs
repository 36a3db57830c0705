/**
 * The tutorial app (system echo and room chat) in plain JavaScript for Node 20, which has no
 * decorator syntax: handlers are declared with `registerHandlers`, the decorator-free form. It
 * defines the same consumers as examples/tutorial/ (same handler table, same AsyncAPI document).
 *
 * Run it: `node examples/node/server.mjs` after installing `@switchboard/switchboard`, `ws`, `zod`.
 */
import process from "node:process";
import {
  App,
  Consumer,
  layers,
  message,
  onMessage,
  Ping,
  Pong,
  registerHandlers,
  safeGroupName,
} from "@switchboard/switchboard";
import { InMemoryChannelLayer } from "@switchboard/switchboard/adapters/memory";
import { z } from "zod";

// ---- messages ------------------------------------------------------------------------------

const MessagePayload = z.object({ message: z.string() });

/** Client → server: a text to echo. */
export const UserMessage = message("user_message", MessagePayload);
/** Server → client: the echo and the welcome notice. */
export const SystemEchoMessage = message("system_echo", MessagePayload);

const MessageStatus = z.enum(["PENDING", "DELIVERED", "FAILED"]).meta({ id: "MessageStatus" });
const RoomMessagePayload = z.object({
  message: z.string(),
  room_name: z.string().nullable().default(null),
  status: MessageStatus.default("PENDING"),
});

/** Client → server: post to the room. */
export const RoomChatMessage = message("room_chat", RoomMessagePayload);
/** Server → room members: a chat line or a join/leave notice. */
export const RoomNotificationMessage = message("room_notification", RoomMessagePayload);

// ---- consumers -----------------------------------------------------------------------------

/** Completion signals when SEND_COMPLETION is set (the tests set it). */
export class BaseConsumer extends Consumer {
  static get sendCompletion() {
    return Boolean(process.env.SEND_COMPLETION);
  }
}

/** Part 1: echoes user messages back to the sender, without a channel layer. */
export class SystemMessageConsumer extends BaseConsumer {
  static layer = null;

  async postAuthentication() {
    await this.sendMessage(
      SystemEchoMessage.create({ message: "🔧 System: Connection established!" }),
    );
  }

  handlePing(_message) {
    return Pong.create();
  }

  handleSystem(message) {
    return SystemEchoMessage.create({ message: `🔧 System Echo: ${message.payload.message}` });
  }
}

registerHandlers(SystemMessageConsumer, {
  handlePing: onMessage(Ping, { output: Pong, summary: "Handle ping requests" }),
  handleSystem: onMessage(UserMessage, {
    output: SystemEchoMessage,
    summary: "Handle message user send to system",
    description: "Echo system messages back directly without using channel layers",
  }),
}, {
  name: "system",
  description: "System Messages Consumer - Direct WebSocket without channel layers",
  tags: ["system", "direct"],
});

/** Part 2: rooms at /ws/room/:roomName, isolated from each other. */
export class RoomChatConsumer extends BaseConsumer {
  static layer = "chat";
  /** Joins, leaves and chat lines go to the room's group. */
  static broadcasts = [RoomNotificationMessage];
  /** Who is online: each connection tracked in its room under `?user=` (docs/presence.md). */
  static presence = {
    key: (c) => c.query.get("user")?.slice(0, 64) || `guest-${c.channelName.slice(-6)}`,
    groups: (c) => [c.roomGroup],
  };

  get roomName() {
    return this.params.roomName;
  }

  get roomGroup() {
    return safeGroupName([this.roomName], "room");
  }

  async postAuthentication() {
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

  async onDisconnect() {
    await this.broadcastMessage(
      RoomNotificationMessage.create({
        message: `👋 Someone left room '${this.roomName}'`,
        room_name: this.roomName,
        status: "PENDING",
      }),
      { groups: [this.roomGroup], excludeCurrent: true },
    );
  }

  handlePing(_message) {
    return Pong.create();
  }

  async handleRoomChat(message) {
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

registerHandlers(RoomChatConsumer, {
  handlePing: onMessage(Ping, { output: Pong, summary: "Handle ping requests" }),
  handleRoomChat: onMessage(RoomChatMessage, {
    output: RoomNotificationMessage,
    summary: "Handle room chat messages",
    description: "Process room chat messages and broadcast to room members",
  }),
}, {
  name: "room_chat",
  description: "Room Chat Consumer - Dynamic room-based messaging",
  tags: ["chat", "rooms"],
});

// ---- app -----------------------------------------------------------------------------------

/** Registers the in-memory "chat" layer (idempotent). */
export function setupLayers() {
  if (!layers.has("chat")) layers.register("chat", () => new InMemoryChannelLayer());
}

/** Builds the tutorial app. */
export function createApp() {
  setupLayers();
  return new App({
    title: "Switchboard tutorial",
    version: "1.0.0",
    description: "Websocket API documentation generated by Switchboard",
  })
    .ws("/ws/system", SystemMessageConsumer)
    .ws("/ws/room/:roomName", RoomChatConsumer)
    .get("/health", () => Response.json({ ok: true }));
}
