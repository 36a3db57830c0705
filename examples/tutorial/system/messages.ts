/** Messages of the system echo endpoint (tutorial part 1). */
import { z } from "zod";
import { message } from "../../../mod.ts";

/** `{message}`. */
export const MessagePayload: z.ZodObject<{ message: z.ZodString }> = z.object({
  message: z.string(),
});
/** The payload type. */
export type MessagePayload = z.infer<typeof MessagePayload>;

/** Client → server: a text to echo. */
export const UserMessage = message(
  "user_message",
  MessagePayload,
);
/** Server → client: the echo and the welcome notice. */
export const SystemEchoMessage = message(
  "system_echo",
  MessagePayload,
);
