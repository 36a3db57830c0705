/**
 * Tutorial part 4, the multi-layer showcase: four consumers on four channel layers, each reachable
 * from outside the socket (the external sender, the HTTP API, a worker) through its events.
 *
 * | route | consumer | layer | group |
 * |---|---|---|---|
 * | `/ws/chat` | {@linkcode ChatConsumer} | `chat` (pub/sub) | `chat_room` |
 * | `/ws/reliable` | {@linkcode ReliableChatConsumer} | `queue` (queue: expiry 900 s, capacity 1000) | `reliable_chat` |
 * | `/ws/notifications` | {@linkcode NotificationConsumer} | `notifications` (pub/sub, own prefix) | `notifications` |
 * | `/ws/analytics` | {@linkcode AnalyticsConsumer} | `analytics` (queue: expiry 3600 s, capacity 5000) | `analytics` |
 */
import {
  type AnyMessageType,
  channel,
  eventHandler,
  type MessageOf,
  Ping,
  Pong,
  wsHandler,
} from "../../../mod.ts";
import { BaseConsumer } from "../base_consumer.ts";
import { chatHistory } from "../settings.ts";
import {
  type ExtraPassthroughMessage,
  ExtraPassthroughMixin,
  ExtraWsHandlerMixin,
} from "../mixins.ts";
import {
  AnalyticsMessage,
  AnalyticsNotificationMessage,
  ChatMessage,
  ChatNotificationMessage,
  NotificationBroadcastMessage,
  NotificationMessage,
  ReliableChatMessage,
  ReliableChatNotificationMessage,
  SystemNotify,
  SystemPeriodicNotify,
  UserJoinedNotification,
  UserLeftNotification,
} from "./messages.ts";

/** The events {@linkcode ChatConsumer} accepts. */
export type ChatEvents =
  | MessageOf<typeof SystemNotify>
  | MessageOf<typeof UserJoinedNotification>
  | MessageOf<typeof UserLeftNotification>
  | MessageOf<typeof ExtraPassthroughMessage>;

/**
 * Chat for everyone connected, on the pub/sub layer `chat`. Composes the extra-request handler
 * and the extra passthrough event from the mixins.
 */
@channel({
  name: "chat",
  description: "Basic Chat Consumer using centralized chat layer",
  tags: ["chat", "showcase"],
})
export class ChatConsumer
  extends ExtraWsHandlerMixin(ExtraPassthroughMixin(BaseConsumer<ChatEvents>)) {
  static override layer = "chat";
  static override groups = ["chat_room"];
  /** A history of the room: a client that reconnects gets what it missed (docs/recovery.md). */
  static override history = chatHistory();
  /** Forwarded to clients unchanged (the mixin adds `extra_passthrough`). */
  static override passthroughEvents: readonly AnyMessageType[] = [
    UserJoinedNotification,
    UserLeftNotification,
  ];

  override async postAuthentication(): Promise<void> {
    // Everyone in the room, the newcomer included.
    await this.broadcastMessage(
      ChatNotificationMessage.create({ message: "📢 Someone joined the chat" }),
    );
  }

  override async onDisconnect(): Promise<void> {
    await this.broadcastMessage(
      ChatNotificationMessage.create({ message: "❌ Someone left the chat." }),
    );
  }

  @wsHandler(Ping, { output: Pong, summary: "Handle ping requests" })
  handlePing(_message: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(ChatMessage, {
    output: ChatNotificationMessage,
    summary: "Handle chat messages",
    description: "Process chat messages and broadcast to room",
  })
  async handleChat(message: MessageOf<typeof ChatMessage>): Promise<void> {
    await this.broadcastMessage(
      ChatNotificationMessage.create({ message: `💬 ${message.payload.message}` }),
    );
  }

  @eventHandler(SystemNotify, { output: ChatNotificationMessage })
  systemNotifyChat(
    event: MessageOf<typeof SystemNotify>,
  ): MessageOf<typeof ChatNotificationMessage> {
    return ChatNotificationMessage.create({ message: event.payload });
  }
}

/** Chat on the queue layer `queue`: messages wait in Redis for a consumer that is briefly away. */
@channel({
  name: "reliable_chat",
  description: "Reliable Chat Consumer using queue-based layer",
  tags: ["chat", "reliable", "showcase"],
})
export class ReliableChatConsumer extends BaseConsumer<MessageOf<typeof SystemNotify>> {
  static override layer = "queue";
  static override groups = ["reliable_chat"];

  override async postAuthentication(): Promise<void> {
    await this.broadcastMessage(
      ReliableChatNotificationMessage.create({
        message: "🔒 Reliable chat connection established!",
      }),
    );
  }

  override async onDisconnect(): Promise<void> {
    await this.broadcastMessage(
      ReliableChatNotificationMessage.create({ message: "🚪 Left reliable chat!" }),
    );
  }

  @wsHandler(Ping, { output: Pong, summary: "Handle ping requests" })
  handlePing(_message: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(ReliableChatMessage, {
    output: ReliableChatNotificationMessage,
    summary: "Handle reliable chat messages",
    description: "Process reliable chat messages with guaranteed delivery",
  })
  async handleReliableChat(message: MessageOf<typeof ReliableChatMessage>): Promise<void> {
    await this.broadcastMessage(
      ReliableChatNotificationMessage.create({ message: `📨 ${message.payload.message}` }),
    );
  }

  /** System announcements arrive as plain `chat_notification` frames, as in Chanx. */
  @eventHandler(SystemNotify, { output: ChatNotificationMessage })
  systemNotifyChat(
    event: MessageOf<typeof SystemNotify>,
  ): MessageOf<typeof ChatNotificationMessage> {
    return ChatNotificationMessage.create({ message: event.payload });
  }
}

/** The events {@linkcode NotificationConsumer} accepts. */
export type NotificationEvents =
  | MessageOf<typeof SystemNotify>
  | MessageOf<typeof SystemPeriodicNotify>;

/** Real-time notifications for everyone, on the pub/sub layer `notifications`. */
@channel({
  name: "notifications",
  description: "Notification Consumer for real-time notifications",
  tags: ["notifications", "showcase"],
})
export class NotificationConsumer extends BaseConsumer<NotificationEvents> {
  static override layer = "notifications";
  static override groups = ["notifications"];

  override async postAuthentication(): Promise<void> {
    await this.broadcastMessage(
      NotificationBroadcastMessage.create({
        type: "system",
        message: "🔔 Connected to notifications!",
      }),
    );
  }

  @wsHandler(Ping, { output: Pong, summary: "Handle ping requests" })
  handlePing(_message: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(NotificationMessage, {
    output: NotificationBroadcastMessage,
    summary: "Handle notification messages",
    description: "Process notification messages and broadcast to all clients",
  })
  async handleNotification(message: MessageOf<typeof NotificationMessage>): Promise<void> {
    await this.broadcastMessage(
      NotificationBroadcastMessage.create({
        type: "user",
        message: `🔔 Notification: ${message.payload.message}`,
      }),
    );
  }

  @eventHandler(SystemNotify, { output: NotificationBroadcastMessage })
  systemNotifyNotification(
    event: MessageOf<typeof SystemNotify>,
  ): MessageOf<typeof NotificationBroadcastMessage> {
    return NotificationBroadcastMessage.create({ type: "system", message: event.payload });
  }

  @eventHandler(SystemPeriodicNotify, { output: NotificationBroadcastMessage })
  systemNotifyPeriodicNotification(
    event: MessageOf<typeof SystemPeriodicNotify>,
  ): MessageOf<typeof NotificationBroadcastMessage> {
    return NotificationBroadcastMessage.create({ type: "periodic", message: event.payload });
  }
}

/** Analytics events, on the queue layer `analytics`. No welcome frame. */
@channel({
  name: "analytics",
  description: "Analytics Consumer for reliable event delivery",
  tags: ["analytics", "showcase"],
})
export class AnalyticsConsumer extends BaseConsumer<MessageOf<typeof SystemNotify>> {
  static override layer = "analytics";
  static override groups = ["analytics"];

  @wsHandler(Ping, { output: Pong, summary: "Handle ping requests" })
  handlePing(_message: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(AnalyticsMessage, {
    output: AnalyticsNotificationMessage,
    summary: "Handle analytics events",
    description: "Process analytics events with reliable delivery",
  })
  async handleAnalytics(message: MessageOf<typeof AnalyticsMessage>): Promise<void> {
    await this.broadcastMessage(
      AnalyticsNotificationMessage.create({
        event: `📊 Analytics: ${message.payload.event}`,
        data: message.payload.data,
      }),
    );
  }

  @eventHandler(SystemNotify, { output: AnalyticsNotificationMessage })
  systemNotifyAnalytic(
    event: MessageOf<typeof SystemNotify>,
  ): MessageOf<typeof AnalyticsNotificationMessage> {
    return AnalyticsNotificationMessage.create({ event: event.payload, data: null });
  }
}
