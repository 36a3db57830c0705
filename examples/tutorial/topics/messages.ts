/** Messages of the topic hub (several streams over one socket). */
import { z } from "zod";
import { message } from "../../../mod.ts";

/** `{body, author = "anonymous"}`. */
export const PostPayload = z.object({ body: z.string(), author: z.string().default("anonymous") });

/** Client → room topic: post to every subscriber. */
export const PostMessage = message("post", PostPayload);
/** Client → room topic: acknowledged to the sender only. */
export const EchoMessage = message("echo", PostPayload);
/** Room topic → sender: the acknowledgement of an echo. */
export const PostedMessage = message("posted", PostPayload);
/** Room topic → every subscriber: a post. */
export const RoomEvent = message("room_event", PostPayload);

/** `{user, online}`. */
export const PresencePayload = z.object({ user: z.string(), online: z.boolean() });
/** Server → presence subscribers. */
export const PresenceChanged = message("presence_changed", PresencePayload);
