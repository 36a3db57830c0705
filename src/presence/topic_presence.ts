/**
 * Presence of topic subscriptions: a Topic class with `static presence` tracks each subscription
 * in the topic's layer group (`RoomTopic.room-lobby`) under `key(topicInstance)`, sends its diff
 * frames stamped with the topic, and answers the built-in `presence` request addressed to the
 * topic. The state lives on the topic instance, so a subscription's presence ends with it.
 *
 * @module
 */
import type { AnyMessage } from "../protocol/message.ts";
import { getLogger } from "../logger.ts";
import { presenceDisconnected, presenceOf } from "./connection_presence.ts";
import type { PresenceRequestPayload } from "./frames.ts";
import type { PresenceOptions } from "./options.ts";

/** What topic presence needs of a subscription: the topic instance's send and its host's state. */
export interface TopicSubscriber {
  /** Sends a message stamped with the topic. */
  sendMessage(message: AnyMessage): Promise<void>;
  /** The host consumer (its `closed`). */
  readonly consumer: { readonly closed: boolean };
}

function sinkOf(instance: TopicSubscriber) {
  return {
    send: (m: AnyMessage) => instance.sendMessage(m),
    get closed() {
      return instance.consumer.closed;
    },
  };
}

/** After a subscription is made: tracks it in `group` (failures logged). */
export async function topicSubscribed(
  instance: TopicSubscriber,
  options: PresenceOptions,
  group: string,
): Promise<void> {
  const host = Object.assign(instance, { groups: [group] });
  try {
    await presenceOf(host, options, sinkOf(instance)).start(host, [group]);
  } catch (error) {
    getLogger().warn("Presence: tracking a topic subscription failed", { error });
  }
}

/** When a subscription ends: untracks it. */
export function topicUnsubscribed(instance: object): Promise<void> | undefined {
  return presenceDisconnected(instance);
}

/** The built-in `presence` request addressed to a topic. */
export function topicPresenceRequest(
  instance: TopicSubscriber,
  options: PresenceOptions | undefined,
  payload: PresenceRequestPayload,
): Promise<AnyMessage> {
  const host = Object.assign(instance, {
    groups: (instance as { groups?: string[] }).groups ?? [],
  });
  return presenceOf(host, options, sinkOf(instance)).request(payload);
}
