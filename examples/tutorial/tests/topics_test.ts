import "./test_env.ts";
import assert from "node:assert/strict";
import { Ping, Pong } from "../../../mod.ts";
import {
  EVENT_ACTION_COMPLETE,
  MESSAGE_ACTION_COMPLETE,
  WebsocketCommunicator,
} from "../../../testing/mod.ts";
import { app } from "../app.ts";
import { RoomTopicConsumer, TopicHubConsumer } from "../topics/consumer.ts";
import {
  EchoMessage,
  PostedMessage,
  PostMessage,
  PresenceChanged,
  RoomEvent,
} from "../topics/messages.ts";
import { PresenceTopic, RoomTopic } from "../topics/topics.ts";

const hub = (room = "lobby") => ({ topic: `room:${room}` });

Deno.test("topic hub: subscribe, echo with ref, post to every subscriber, errors", async () => {
  await using a = await WebsocketCommunicator.connect(app, "/ws/topics", {
    consumer: TopicHubConsumer,
  });
  await using b = await WebsocketCommunicator.connect(app, "/ws/topics", {
    consumer: TopicHubConsumer,
  });

  assert.deepEqual(await a.subscribe("room:lobby", { ref: "1" }), {
    action: "subscribed",
    payload: null,
    version: 1,
    topic: "room:lobby",
    ref: "1",
  });
  await b.subscribe("room:lobby");

  await a.sendMessage(EchoMessage.create({ body: "hi" }), { ...hub(), ref: "2" });
  assert.deepEqual(await a.receiveJson(), {
    ...PostedMessage.create({ body: "hi" }),
    version: 1,
    topic: "room:lobby",
    ref: "2",
  });
  assert.deepEqual(await a.receiveJson(), {
    action: "complete",
    payload: null,
    version: 1,
    topic: "room:lobby",
    ref: "2",
  });

  // A post reaches every subscriber (no ref: it is a push), each followed by event_complete.
  await a.sendMessage(PostMessage.create({ body: "yo", author: "al" }), { ...hub(), ref: "3" });
  const posted = [{
    ...RoomEvent.create({ body: "yo", author: "al" }),
    version: 1,
    topic: "room:lobby",
  }];
  // The sender also gets the `complete` of its request, in either order against the push.
  assert.deepEqual(
    await a.receiveAllMessages({ stopAction: [MESSAGE_ACTION_COMPLETE, EVENT_ACTION_COMPLETE] }),
    posted,
  );
  assert.deepEqual(await b.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), posted);

  await a.sendMessage(EchoMessage.create({ body: "x" }), { topic: "room:other", ref: "4" });
  const [notSubscribed] = await a.receiveAllMessages();
  assert.deepEqual(notSubscribed, {
    action: "error",
    payload: { reason: "not_subscribed", detail: "Not subscribed to 'room:other'" },
    version: 1,
    topic: "room:other",
    ref: "4",
  });

  assert.deepEqual(await a.subscribe("chat:1", { ref: "5" }), {
    action: "error",
    payload: { reason: "unknown_topic", detail: "Unknown topic 'chat:1'" },
    version: 1,
    topic: "chat:1",
    ref: "5",
  });

  // No topic: the hub's own handlers, replies without an envelope.
  await a.sendMessage(Ping.create());
  assert.deepEqual(await a.receiveAllMessages(), [Pong.create()]);
});

Deno.test("standalone room topic shares the hub's group", async () => {
  await using hubClient = await WebsocketCommunicator.connect(app, "/ws/topics", {
    consumer: TopicHubConsumer,
  });
  await hubClient.subscribe("room:garden");
  await using solo = await WebsocketCommunicator.connect(app, "/ws/topics/room/garden", {
    consumer: RoomTopicConsumer,
  });
  assert.deepEqual(await solo.receiveJson(), {
    action: "subscribed",
    payload: null,
    version: 1,
    topic: "room:garden",
  });
  // Frames without a topic belong to the standalone topic; replies are topic-stamped.
  await solo.sendJson({ action: "echo", payload: { body: "hi" } });
  assert.deepEqual(await solo.receiveAllMessages(), [
    { ...PostedMessage.create({ body: "hi" }), version: 1, topic: "room:garden" },
  ]);
  await solo.sendJson({ action: "post", payload: { body: "from solo" } });
  assert.deepEqual(
    await hubClient.receiveTopicMessage(RoomTopic),
    RoomEvent.create({ body: "from solo", author: "anonymous" }),
  );
});

Deno.test("presence pushes are forwarded to subscribers with seq, then event_complete", async () => {
  await using c = await WebsocketCommunicator.connect(app, "/ws/topics", {
    consumer: TopicHubConsumer,
  });
  await c.subscribe("presence:ann");
  await PresenceTopic.broadcast(
    "presence:ann",
    PresenceChanged.create({ user: "ann", online: true }),
    {
      seq: 7,
    },
  );
  assert.deepEqual(await c.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
    {
      ...PresenceChanged.create({ user: "ann", online: true }),
      version: 1,
      topic: "presence:ann",
      seq: 7,
    },
  ]);
});
