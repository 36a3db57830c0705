/**
 * Messages of the showcase endpoints (tutorial part 4): chat, reliable chat, notifications and
 * analytics, plus the two server-side events the external sender pushes.
 */
import { z } from "zod";
import { message } from "../../../mod.ts";

// ---- chat ----------------------------------------------------------------------------------

/** `{message}`. */
export const ChatPayload: z.ZodObject<{ message: z.ZodString }> = z.object({
  message: z.string(),
});
/** The payload type. */
export type ChatPayload = z.infer<typeof ChatPayload>;

/** Client → server: a chat line. */
export const ChatMessage = message("chat", ChatPayload);
/** Server → chat members: a chat line, a join/leave notice or a system announcement. */
export const ChatNotificationMessage = message("chat_notification", ChatPayload);
/** Event, forwarded to clients unchanged: someone joined. */
export const UserJoinedNotification = message("user_joined_notification", ChatPayload, {
  title: "UserJoinedNotification",
});
/** Event, forwarded to clients unchanged: someone left. */
export const UserLeftNotification = message("user_left_notification", ChatPayload, {
  title: "UserLeftNotification",
});

// ---- reliable chat -------------------------------------------------------------------------

/** `{message}`. */
export const ReliableChatPayload: z.ZodObject<{ message: z.ZodString }> = z.object({
  message: z.string(),
});
/** The payload type. */
export type ReliableChatPayload = z.infer<typeof ReliableChatPayload>;

/** Client → server: a chat line on the queue-backed layer. */
export const ReliableChatMessage = message("reliable_chat", ReliableChatPayload);
/** Server → reliable chat members. */
export const ReliableChatNotificationMessage = message(
  "reliable_chat_notification",
  ReliableChatPayload,
);

// ---- notifications -------------------------------------------------------------------------

/** `{type = "user", message}`. */
export const NotificationPayload: z.ZodObject<{
  type: z.ZodDefault<z.ZodString>;
  message: z.ZodString;
}> = z.object({
  type: z.string().default("user"),
  message: z.string(),
});
/** The payload type (output side: `type` filled in). */
export type NotificationPayload = z.output<typeof NotificationPayload>;

/** Client → server: a notification for everyone. */
export const NotificationMessage = message("notification", NotificationPayload);
/** Server → every notifications client (`type` is `user`, `system` or `periodic`). */
export const NotificationBroadcastMessage = message(
  "notification_broadcast",
  NotificationPayload,
);

// ---- analytics -----------------------------------------------------------------------------

/** `{event, data = null}`; `data` is any JSON. */
export const AnalyticsPayload: z.ZodObject<{
  event: z.ZodString;
  data: z.ZodDefault<z.ZodUnknown>;
}> = z.object({
  event: z.string(),
  data: z.unknown().default(null),
});
/** The payload type (output side: `data` filled in). */
export type AnalyticsPayload = z.output<typeof AnalyticsPayload>;

/** Client → server: an analytics event. */
export const AnalyticsMessage = message("analytics", AnalyticsPayload);
/** Server → every analytics client. */
export const AnalyticsNotificationMessage = message("analytics_notification", AnalyticsPayload);

// ---- server-side events --------------------------------------------------------------------

/** Event: a system announcement (a plain string), pushed by the external sender or the HTTP API. */
export const SystemNotify = message("system_notify", z.string(), { title: "SystemNotify" });
/** Event: a periodic status update (a plain string), for notifications clients. */
export const SystemPeriodicNotify = message("system_periodic_notify", z.string(), {
  title: "SystemPeriodicNotify",
});
