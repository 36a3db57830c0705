/** Helpers shared by the showcase tests (part 4): connecting, expected frames, the probe. */
import type { AnyMessage, App, ConsumerClass } from "../../../mod.ts";
import {
  type CommunicatorOptions,
  EVENT_ACTION_COMPLETE,
  GROUP_ACTION_COMPLETE,
  MESSAGE_ACTION_COMPLETE,
  WebsocketCommunicator,
} from "../../../testing/mod.ts";
import { app as tutorialApp } from "../app.ts";
import type { SenderOptions } from "../external_sender.ts";
import {
  AnalyticsConsumer,
  ChatConsumer,
  NotificationConsumer,
  ReliableChatConsumer,
} from "../showcase/consumer.ts";
import {
  ChatNotificationMessage,
  NotificationBroadcastMessage,
  ReliableChatNotificationMessage,
  SystemNotify,
} from "../showcase/messages.ts";

/** The sender functions without pauses or ✅ lines. */
export const QUIET: SenderOptions = { delayScale: 0, log: () => {} };
/** The text of the probe event. */
export const PROBE = "🧪 probe";
/** What a sender waits for after a broadcast that reaches itself too. */
export const BOTH: readonly string[] = [MESSAGE_ACTION_COMPLETE, GROUP_ACTION_COMPLETE];

/** Connects to `path` of the tutorial app (or `options.app`, over `options.url`). */
export function connect(
  path: string,
  consumer: ConsumerClass,
  options: CommunicatorOptions & { app?: App } = {},
): Promise<WebsocketCommunicator> {
  return WebsocketCommunicator.connect(options.app ?? tutorialApp, path, { ...options, consumer });
}

/** A `chat_notification` frame. */
export const chatNotice = (message: string): AnyMessage =>
  ChatNotificationMessage.create({ message });
/** A `reliable_chat_notification` frame. */
export const reliableNotice = (message: string): AnyMessage =>
  ReliableChatNotificationMessage.create({ message });
/** A `notification_broadcast` frame. */
export const notice = (type: string, message: string): AnyMessage =>
  NotificationBroadcastMessage.create({ type, message });

/**
 * Every event that reached `comm` since the last read, in order: broadcasts a probe event to the
 * consumer's groups and collects event by event (each ends with `event_complete`) until the probe
 * comes back. A layer delivers a channel's messages in order, so nothing sent before is missed.
 */
export async function eventsUntilProbe(
  comm: WebsocketCommunicator,
  consumer: ConsumerClass,
): Promise<AnyMessage[]> {
  await consumer.broadcastEvent(SystemNotify.create(PROBE));
  const out: AnyMessage[] = [];
  while (true) {
    const batch = await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE });
    if (batch.some((m) => JSON.stringify(m.payload).includes(PROBE))) return out;
    out.push(...batch);
  }
}

/** What each showcase connection received. */
export interface ShowcaseReceived {
  chat: AnyMessage[];
  reliable: AnyMessage[];
  notifications: AnyMessage[];
  analytics: AnyMessage[];
}

/** The four showcase connections, welcome frames read. */
export interface Showcase extends AsyncDisposable {
  chat: WebsocketCommunicator;
  reliable: WebsocketCommunicator;
  notifications: WebsocketCommunicator;
  analytics: WebsocketCommunicator;
  /** What each connection received since the last call (found with the probe). */
  received(): Promise<ShowcaseReceived>;
}

/** Connects one client to each showcase consumer and reads the welcome frames. */
export async function connectShowcase(
  options: CommunicatorOptions & { app?: App } = {},
): Promise<Showcase> {
  const chat = await connect("/ws/chat", ChatConsumer, options);
  const reliable = await connect("/ws/reliable", ReliableChatConsumer, options);
  const notifications = await connect("/ws/notifications", NotificationConsumer, options);
  const analytics = await connect("/ws/analytics", AnalyticsConsumer, options);
  await chat.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  await reliable.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  await notifications.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  return {
    chat,
    reliable,
    notifications,
    analytics,
    async received() {
      return {
        chat: await eventsUntilProbe(chat, ChatConsumer),
        reliable: await eventsUntilProbe(reliable, ReliableChatConsumer),
        notifications: await eventsUntilProbe(notifications, NotificationConsumer),
        analytics: await eventsUntilProbe(analytics, AnalyticsConsumer),
      };
    },
    async [Symbol.asyncDispose]() {
      for (const c of [analytics, notifications, reliable, chat]) await c.disconnect();
    },
  };
}
