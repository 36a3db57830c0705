/** Messages of the room chat endpoint (tutorial part 2). */
import { z } from "zod";
import { message } from "../../../mod.ts";

/** Delivery status of a room message. */
export const MessageStatus: z.ZodEnum<
  { PENDING: "PENDING"; DELIVERED: "DELIVERED"; FAILED: "FAILED" }
> = z.enum(["PENDING", "DELIVERED", "FAILED"]).meta({ id: "MessageStatus" });

/** `{message, room_name?, status?}`. */
export const RoomMessagePayload: z.ZodObject<{
  message: z.ZodString;
  room_name: z.ZodDefault<z.ZodNullable<z.ZodString>>;
  status: z.ZodDefault<typeof MessageStatus>;
}> = z.object({
  message: z.string(),
  room_name: z.string().nullable().default(null),
  status: MessageStatus.default("PENDING"),
});
/** The payload type (output side: defaults filled in). */
export type RoomMessagePayload = z.output<typeof RoomMessagePayload>;

/** Client → server: post to the room. */
export const RoomChatMessage = message(
  "room_chat",
  RoomMessagePayload,
);
/** Server → room members: a chat line or a join/leave notice. */
export const RoomNotificationMessage = message(
  "room_notification",
  RoomMessagePayload,
);
