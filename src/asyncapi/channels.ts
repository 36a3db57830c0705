/**
 * The channels of an AsyncAPI document: which routes and topics become channels, under which
 * address, with which handlers and message types.
 *
 * @module
 */
import type { WsRoute } from "../app/app.ts";
import type { ConsumerClass } from "../consumer/consumer.ts";
import { type HandlerTable, handlerTable } from "../consumer/handlers.ts";
import type { TopicClass } from "../consumer/topic.ts";
import { camelize } from "../protocol/case.ts";
import type { AnyMessageType } from "../protocol/message.ts";
import { snakeName } from "./names.ts";

/** One channel to document: a route, or a topic mounted on (or served by) a route. */
export interface ChannelSource {
  /** The channel's name (made unique by the generator). */
  name: string;
  /** The route path with `{param}` placeholders. */
  address: string;
  /** The route's parameter names. */
  params: readonly string[];
  /** The handlers documented on the channel. */
  table: HandlerTable;
  /** From `@channel({description})`, or the topic's explanation. */
  description?: string;
  /** From `@channel({tags})`. */
  tags?: readonly string[];
  /** The topic, for a topic's channel (`x-topic`). */
  topic?: { name: string; pattern: string; parameters: readonly string[] };
}

/**
 * The channels a route documents: the route itself (unless it only hosts topics), then one per
 * hosted topic; a standalone topic consumer documents its topic alone.
 */
export function channelSources(route: WsRoute, camelCase: boolean): ChannelSource[] {
  const name = (n: string) => camelCase ? camelize(n) : n;
  const address = route.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, "{$1}");
  const consumer: ConsumerClass = route.consumer;
  const topicSource = (topic: TopicClass, channelName: string, hosted: boolean): ChannelSource => {
    const table = handlerTable(topic);
    return {
      name: name(table.channel?.name ?? channelName),
      address,
      params: route.params,
      table,
      description: table.channel?.description ??
        (hosted
          ? `Topic '${topic.pattern}' over ${address}: subscribe with {"action": "subscribe", ` +
            `"topic": "${topic.pattern}"}; every frame carries its "topic"`
          : `Topic '${topic.pattern}' served alone: the connection is subscribed on connect, ` +
            `with the topic made from the path`),
      tags: table.channel?.tags,
      topic: {
        name: snakeName(topic.name),
        pattern: topic.pattern,
        parameters: topic.paramNames(),
      },
    };
  };
  if (consumer.defaultTopic) {
    return [topicSource(consumer.defaultTopic, snakeName(consumer.defaultTopic.name), false)];
  }
  const table = handlerTable(consumer);
  const hostName = table.channel?.name ?? snakeName(consumer.name, "Consumer");
  const out: ChannelSource[] = [];
  if (consumer.topics.length === 0 || table.ws.size > 0 || table.events.size > 0) {
    out.push({
      name: name(hostName),
      address,
      params: route.params,
      table,
      description: table.channel?.description,
      tags: table.channel?.tags,
    });
  }
  for (const topic of consumer.topics) {
    out.push(topicSource(topic, `${hostName}_${snakeName(topic.name)}`, true));
  }
  return out;
}

/** The message types a channel documents: client messages, replies, and what events send. */
export function channelMessages(table: HandlerTable): AnyMessageType[] {
  const out = new Set<AnyMessageType>();
  for (const h of table.ws.values()) {
    out.add(h.input);
    for (const o of h.output) out.add(o);
  }
  for (const h of table.events.values()) for (const o of h.output) out.add(o);
  return [...out];
}
