/**
 * Tutorial part 4: the showcase consumers (chat, reliable chat, notifications, analytics), their
 * mixins, the external sender and the HTTP API that pushes the same events.
 */
import "./test_env.ts";
import assert from "node:assert/strict";
import { type ChannelLayer, layers, Ping, Pong } from "../../../mod.ts";
import {
  captureBroadcastEvents,
  EVENT_ACTION_COMPLETE,
  GROUP_ACTION_COMPLETE,
  WebsocketCommunicator,
} from "../../../testing/mod.ts";
import { app } from "../app.ts";
import {
  ANALYTICS_EVENTS,
  main,
  periodicAnnouncements,
  sendAnalyticsEvent,
  sendChatMessage,
  sendNotification,
  sendReliableMessage,
} from "../external_sender.ts";
import { layerBackend } from "../layers.ts";
import { ExtraPassthroughMessage, ExtraRequestMessage, ExtraResponseMessage } from "../mixins.ts";
import {
  AnalyticsConsumer,
  ChatConsumer,
  NotificationConsumer,
  ReliableChatConsumer,
} from "../showcase/consumer.ts";
import {
  AnalyticsMessage,
  AnalyticsNotificationMessage,
  ChatMessage,
  NotificationMessage,
  ReliableChatMessage,
  SystemNotify,
  SystemPeriodicNotify,
  UserJoinedNotification,
  UserLeftNotification,
} from "../showcase/messages.ts";
import {
  BOTH,
  chatNotice,
  connect,
  connectShowcase,
  eventsUntilProbe,
  notice,
  PROBE,
  QUIET,
  reliableNotice,
} from "./showcase_helpers.ts";

Deno.test("each showcase consumer has its own layer alias and group", () => {
  assert.deepEqual(
    [ChatConsumer, ReliableChatConsumer, NotificationConsumer, AnalyticsConsumer].map((c) => [
      c.layer,
      c.defaultGroups(),
    ]),
    [
      ["chat", ["chat_room"]],
      ["queue", ["reliable_chat"]],
      ["notifications", ["notifications"]],
      ["analytics", ["analytics"]],
    ],
  );
  const [chat, queue, notifications, analytics] = ["chat", "queue", "notifications", "analytics"]
    .map((alias) => layers.get(alias) as ChannelLayer & { expiry?: number; prefix?: string });
  assert.equal(new Set([chat, queue, notifications, analytics]).size, 4);
  assert.equal(queue.expiry, 900);
  assert.equal(analytics.expiry, 3600);
  if (layerBackend() === "redis") {
    // Pub/sub for chat and notifications (each with its own prefix), queues for the others.
    assert.deepEqual(
      [chat, queue, notifications, analytics].map((l) => l.constructor.name),
      [
        "RedisPubSubChannelLayer",
        "RedisQueueChannelLayer",
        "RedisPubSubChannelLayer",
        "RedisQueueChannelLayer",
      ],
    );
    assert.notEqual(chat.prefix, notifications.prefix);
  }
});

// ---- /ws/chat --------------------------------------------------------------------------------

Deno.test("test_chat_ping", async () => {
  await using comm = await connect("/ws/chat", ChatConsumer);
  await comm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  await comm.sendMessage(Ping.create());
  assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
});

Deno.test("test_chat_join_notice_reaches_everyone_including_the_newcomer", async () => {
  const joined = chatNotice("📢 Someone joined the chat");
  await using first = await connect("/ws/chat", ChatConsumer);
  assert.deepEqual(await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [joined]);

  await using second = await connect("/ws/chat", ChatConsumer);
  assert.deepEqual(await second.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [
    joined,
  ]);
  assert.deepEqual(await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [joined]);
});

Deno.test("test_chat_broadcast_messaging", async () => {
  await using first = await connect("/ws/chat", ChatConsumer);
  // Its own notice first: over Redis a broadcast reaches the process after a later joiner.
  await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  await using second = await connect("/ws/chat", ChatConsumer);
  await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  await second.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });

  await first.sendMessage(ChatMessage.create({ message: "Hello everyone" }));
  const expected = [chatNotice("💬 Hello everyone")];
  // The sender gets its own copy (+group_complete) and the request's complete, in either order.
  assert.deepEqual(await first.receiveAllMessages({ stopAction: BOTH }), expected);
  assert.deepEqual(
    await second.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }),
    expected,
  );
});

Deno.test("test_chat_leave_notice_reaches_the_others", async () => {
  await using stays = await connect("/ws/chat", ChatConsumer);
  // Its own notice first: over Redis a broadcast reaches the process after a later joiner.
  await stays.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  const leaves = await connect("/ws/chat", ChatConsumer);
  await stays.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });

  await leaves.disconnect();
  assert.deepEqual(await stays.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [
    chatNotice("❌ Someone left the chat."),
  ]);
});

Deno.test("test_chat_extra_request_from_the_ws_handler_mixin", async () => {
  await using comm = await connect("/ws/chat", ChatConsumer);
  await comm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  await comm.sendMessage(ExtraRequestMessage.create("hello"));
  assert.deepEqual(await comm.receiveAllMessages(), [
    ExtraResponseMessage.create("hello any extra thing"),
  ]);
});

Deno.test("test_chat_unknown_action_lists_the_actions_of_every_mixin_level", async () => {
  await using comm = await connect("/ws/chat", ChatConsumer);
  await comm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  await comm.sendJson({ action: "nope" });
  assert.deepEqual(await comm.receiveAllMessages(), [{
    action: "error",
    payload: [{
      type: "union_tag_invalid",
      loc: [],
      msg: "Input tag 'nope' found using 'action' does not match any of the expected tags: " +
        "'chat', 'extra_request', 'ping'",
    }],
  }]);
});

Deno.test("test_chat_system_notify_event", async () => {
  await using first = await connect("/ws/chat", ChatConsumer);
  // Its own notice first: over Redis a broadcast reaches the process after a later joiner.
  await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  await using second = await connect("/ws/chat", ChatConsumer);
  await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  await second.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });

  await ChatConsumer.broadcastEvent(SystemNotify.create("Server restarting soon"));
  for (const comm of [first, second]) {
    assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
      chatNotice("Server restarting soon"),
    ]);
  }
});

Deno.test("test_chat_system_notify_to_one_connection_with_send_event", async () => {
  await using target = await connect("/ws/chat", ChatConsumer);
  // Its own notice first: over Redis a broadcast reaches the process after a later joiner.
  await target.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  await using other = await connect("/ws/chat", ChatConsumer);
  await target.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  await other.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });

  await ChatConsumer.sendEvent(SystemNotify.create("just for you"), target.consumer!.channelName);
  assert.deepEqual(await target.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
    chatNotice("just for you"),
  ]);
  assert.deepEqual(await eventsUntilProbe(other, ChatConsumer), []);
  assert.deepEqual(await eventsUntilProbe(target, ChatConsumer), []);
});

Deno.test("test_chat_passthrough_events_are_forwarded_verbatim", async () => {
  await using comm = await connect("/ws/chat", ChatConsumer);
  await comm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  const events = [
    UserJoinedNotification.create({ message: "alice joined" }),
    UserLeftNotification.create({ message: "bob left" }),
    ExtraPassthroughMessage.create("from the passthrough mixin"),
  ];
  for (const event of events) {
    await ChatConsumer.broadcastEvent(event);
    assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
      event,
    ]);
  }
});

// ---- /ws/reliable ----------------------------------------------------------------------------

Deno.test("test_reliable_chat_welcome_broadcast_and_leave", async () => {
  const established = reliableNotice("🔒 Reliable chat connection established!");
  await using first = await connect("/ws/reliable", ReliableChatConsumer);
  assert.deepEqual(await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [
    established,
  ]);
  const second = await connect("/ws/reliable", ReliableChatConsumer);
  try {
    assert.deepEqual(await second.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [
      established,
    ]);
    assert.deepEqual(await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [
      established,
    ]);

    await first.sendMessage(Ping.create());
    assert.deepEqual(await first.receiveAllMessages(), [Pong.create()]);

    await second.sendMessage(ReliableChatMessage.create({ message: "delivered for sure" }));
    const expected = [reliableNotice("📨 delivered for sure")];
    assert.deepEqual(await second.receiveAllMessages({ stopAction: BOTH }), expected);
    assert.deepEqual(
      await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }),
      expected,
    );
  } finally {
    await second.disconnect();
  }
  assert.deepEqual(await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [
    reliableNotice("🚪 Left reliable chat!"),
  ]);
});

Deno.test("test_reliable_chat_system_notify_arrives_as_chat_notification", async () => {
  await using comm = await connect("/ws/reliable", ReliableChatConsumer);
  await comm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  await ReliableChatConsumer.broadcastEvent(SystemNotify.create("maintenance at 2am"));
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
    chatNotice("maintenance at 2am"),
  ]);
});

// ---- /ws/notifications -----------------------------------------------------------------------

Deno.test("test_notifications_welcome_and_user_notification", async () => {
  const connected = notice("system", "🔔 Connected to notifications!");
  await using first = await connect("/ws/notifications", NotificationConsumer);
  assert.deepEqual(await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [
    connected,
  ]);
  await using second = await connect("/ws/notifications", NotificationConsumer);
  assert.deepEqual(await second.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [
    connected,
  ]);
  assert.deepEqual(await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [
    connected,
  ]);

  // Whatever type the client sends, a client notification goes out as type "user".
  await first.sendMessage(NotificationMessage.create({ type: "alert", message: "Deploy done" }));
  const expected = [notice("user", "🔔 Notification: Deploy done")];
  assert.deepEqual(await first.receiveAllMessages({ stopAction: BOTH }), expected);
  assert.deepEqual(
    await second.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }),
    expected,
  );

  // The payload's type defaults to "user" when the client leaves it out.
  await second.sendJson({ action: "notification", payload: { message: "no type" } });
  assert.deepEqual(await second.receiveAllMessages({ stopAction: BOTH }), [
    notice("user", "🔔 Notification: no type"),
  ]);
  await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });

  await first.sendMessage(Ping.create());
  assert.deepEqual(await first.receiveAllMessages(), [Pong.create()]);
});

Deno.test("test_notifications_system_and_periodic_events", async () => {
  await using comm = await connect("/ws/notifications", NotificationConsumer);
  await comm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });

  await NotificationConsumer.broadcastEvent(SystemNotify.create("disk almost full"));
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
    notice("system", "disk almost full"),
  ]);
  await NotificationConsumer.broadcastEvent(SystemPeriodicNotify.create("all systems go"));
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
    notice("periodic", "all systems go"),
  ]);
});

Deno.test("test_notifications_leaving_sends_no_notice", async () => {
  await using stays = await connect("/ws/notifications", NotificationConsumer);
  // Its own notice first: over Redis a broadcast reaches the process after a later joiner.
  await stays.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  const leaves = await connect("/ws/notifications", NotificationConsumer);
  await stays.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
  await leaves.disconnect();
  assert.deepEqual(await eventsUntilProbe(stays, NotificationConsumer), []);
});

// ---- /ws/analytics ---------------------------------------------------------------------------

Deno.test("test_analytics_no_welcome_frame", async () => {
  await using comm = await connect("/ws/analytics", AnalyticsConsumer);
  // The probe is the first thing this connection receives: no welcome came before it.
  await AnalyticsConsumer.broadcastEvent(SystemNotify.create(PROBE));
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
    AnalyticsNotificationMessage.create({ event: PROBE, data: null }),
  ]);
});

Deno.test("test_analytics_event_broadcast", async () => {
  await using first = await connect("/ws/analytics", AnalyticsConsumer);
  await using second = await connect("/ws/analytics", AnalyticsConsumer);

  const data = { timestamp: 1700000000, user_agent: "test", url: "/dashboard" };
  await first.sendMessage(AnalyticsMessage.create({ event: "page_view", data }));
  const expected = [
    AnalyticsNotificationMessage.create({ event: "📊 Analytics: page_view", data }),
  ];
  assert.deepEqual(await first.receiveAllMessages({ stopAction: BOTH }), expected);
  assert.deepEqual(
    await second.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }),
    expected,
  );

  // data is optional and goes out as null.
  await second.sendJson({ action: "analytics", payload: { event: "button_click" } });
  const clicked = [{
    action: "analytics_notification",
    payload: { event: "📊 Analytics: button_click", data: null },
  }];
  assert.deepEqual(await second.receiveAllMessages({ stopAction: BOTH }), clicked);
  assert.deepEqual(
    await first.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }),
    clicked,
  );

  await second.sendMessage(Ping.create());
  assert.deepEqual(await second.receiveAllMessages(), [Pong.create()]);
});

Deno.test("test_analytics_system_notify_event", async () => {
  await using comm = await connect("/ws/analytics", AnalyticsConsumer);
  await AnalyticsConsumer.broadcastEvent(SystemNotify.create("user_login:jane"));
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
    AnalyticsNotificationMessage.create({ event: "user_login:jane", data: null }),
  ]);
});

// ---- external sender -------------------------------------------------------------------------

Deno.test("test_external_sender_broadcast", async () => {
  const chatComm = new WebsocketCommunicator(app, "/ws/chat", { consumer: ChatConsumer });
  await chatComm.connect();
  try {
    // Clear initial connection messages
    await chatComm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });

    // Call external sender function
    await sendChatMessage(QUIET);

    // Receive the broadcast event's frame
    const chatReplies = await chatComm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE });
    assert.equal(chatReplies.length, 1);
    assert.deepEqual(chatReplies[0], chatNotice("🔔 System announcement: Welcome to the chat!"));
  } finally {
    await chatComm.disconnect();
  }
});

Deno.test("external sender: each function reaches only its consumers", async (t) => {
  await using showcase = await connectShowcase();

  await t.step("sendChatMessage", async () => {
    await sendChatMessage(QUIET);
    assert.deepEqual(await showcase.received(), {
      chat: [chatNotice("🔔 System announcement: Welcome to the chat!")],
      reliable: [],
      notifications: [],
      analytics: [],
    });
  });

  await t.step("sendReliableMessage", async () => {
    await sendReliableMessage(QUIET);
    assert.deepEqual(await showcase.received(), {
      chat: [],
      reliable: [chatNotice("🔒 Important: System maintenance scheduled for tonight")],
      notifications: [],
      analytics: [],
    });
  });

  await t.step("sendNotification", async () => {
    await sendNotification(QUIET);
    assert.deepEqual(await showcase.received(), {
      chat: [],
      reliable: [],
      notifications: [notice("system", "🚨 Alert: High CPU usage detected on server")],
      analytics: [],
    });
  });

  await t.step("sendAnalyticsEvent", async () => {
    await sendAnalyticsEvent(QUIET);
    assert.deepEqual(await showcase.received(), {
      chat: [],
      reliable: [],
      notifications: [],
      analytics: [
        "user_login:john_doe",
        "page_view:/dashboard",
        "button_click:export_data",
        "session_duration:1234",
        "error:api_timeout",
      ].map((event) => AnalyticsNotificationMessage.create({ event, data: null })),
    });
  });

  await t.step("periodicAnnouncements", async () => {
    await periodicAnnouncements(QUIET);
    assert.deepEqual(await showcase.received(), {
      chat: [
        chatNotice("⏰ Hourly chat announcement #1"),
        chatNotice("⏰ Hourly chat announcement #3"),
      ],
      reliable: [],
      notifications: [notice("periodic", "🔔 System status update #2")],
      analytics: [],
    });
  });
});

Deno.test("external sender: main() runs all five, reporting each", async () => {
  await using showcase = await connectShowcase();
  const lines: string[] = [];
  const failed = await main(undefined, { delayScale: 0, log: (l) => lines.push(l) });
  assert.deepEqual(failed, []);
  assert.deepEqual(lines.filter((l) => l.startsWith("✅")), [
    "✅ Sent chat message",
    "✅ Sent reliable message",
    "✅ Sent notification",
    ...ANALYTICS_EVENTS.map((e) => `✅ Sent analytics event: ${e}`),
    "✅ Sent periodic chat announcement #1",
    "✅ Sent periodic notification #2",
    "✅ Sent periodic chat announcement #3",
  ]);
  const received = await showcase.received();
  assert.deepEqual(received.chat, [
    chatNotice("🔔 System announcement: Welcome to the chat!"),
    chatNotice("⏰ Hourly chat announcement #1"),
    chatNotice("⏰ Hourly chat announcement #3"),
  ]);
  assert.deepEqual(received.reliable, [
    chatNotice("🔒 Important: System maintenance scheduled for tonight"),
  ]);
  assert.deepEqual(received.notifications, [
    notice("system", "🚨 Alert: High CPU usage detected on server"),
    notice("periodic", "🔔 System status update #2"),
  ]);
  assert.deepEqual(
    received.analytics,
    ANALYTICS_EVENTS.map((event) => AnalyticsNotificationMessage.create({ event, data: null })),
  );
});

Deno.test("external sender: main() rejects unknown names and reports a failing sender", async () => {
  await assert.rejects(() => main(["chat", "nope"], QUIET), /Unknown sender\(s\) nope/);
  // A capture that throws stands in for a layer failure; the other senders still run.
  assert.ok(!Object.hasOwn(ReliableChatConsumer, "broadcastEvent"));
  Object.defineProperty(ReliableChatConsumer, "broadcastEvent", {
    configurable: true,
    writable: true,
    value: () => Promise.reject(new Error("layer down")),
  });
  try {
    using captured = captureBroadcastEvents(ChatConsumer);
    const lines: string[] = [];
    const failed = await main(["reliable", "chat"], { delayScale: 0, log: (l) => lines.push(l) });
    assert.deepEqual(failed, ["reliable"]);
    assert.ok(lines.includes("❌ reliable failed: layer down"), lines.join("\n"));
    assert.equal(captured.events.length, 1);
  } finally {
    delete (ReliableChatConsumer as unknown as Record<string, unknown>).broadcastEvent;
  }
});

Deno.test("external sender: captureBroadcastEvents sees the events without a layer", async () => {
  using chat = captureBroadcastEvents(ChatConsumer);
  using notifications = captureBroadcastEvents(NotificationConsumer);
  await periodicAnnouncements(QUIET);
  assert.deepEqual(chat.events, [
    { event: SystemNotify.create("⏰ Hourly chat announcement #1"), groups: undefined },
    { event: SystemNotify.create("⏰ Hourly chat announcement #3"), groups: undefined },
  ]);
  assert.deepEqual(notifications.events, [
    { event: SystemPeriodicNotify.create("🔔 System status update #2"), groups: undefined },
  ]);
});
