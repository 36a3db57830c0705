/** The completion rules of chanx.md §1.D, and what changes when they are off. */
import {
  assert,
  EVENT_ACTION_COMPLETE,
  GROUP_ACTION_COMPLETE,
  memoryLogger,
  MESSAGE_ACTION_COMPLETE,
  Ping,
  Pong,
  setLogger,
  WebsocketCommunicator,
} from "./deps.ts";
import {
  EchoConsumer,
  Explode,
  Forwarded,
  freshLayer,
  makeApp,
  Notified,
  Notify,
  QuietConsumer,
  Shout,
  Shouted,
} from "./fixtures.ts";

const app = makeApp();

Deno.test("complete follows the reply to each client frame", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.sendMessage(Ping.create());
  assert.deepEqual(await comm.receiveJson(), { action: "pong", payload: null });
  assert.deepEqual(await comm.receiveJson(), { action: MESSAGE_ACTION_COMPLETE, payload: null });
  assert.ok(await comm.receiveNothing());
});

Deno.test("complete also follows an error reply", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.sendText("][");
  assert.equal(((await comm.receiveJson()) as { action: string }).action, "error");
  assert.deepEqual(await comm.receiveJson(), { action: MESSAGE_ACTION_COMPLETE, payload: null });
});

Deno.test("group_complete on each receiver, never to an excluded sender", async () => {
  freshLayer();
  await using a = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await using b = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });

  await a.sendMessage(Shout.create({ text: "to all", exclude: false }));
  const expected = [Shouted.create({ text: "to all" })];
  // The sender's `complete` and its own copy may come in either order (as on any real layer).
  assert.deepEqual(
    await a.receiveAllMessages({ stopAction: [MESSAGE_ACTION_COMPLETE, GROUP_ACTION_COMPLETE] }),
    expected,
  );
  assert.deepEqual(await b.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), expected);
  assert.ok(await a.receiveNothing());
  assert.ok(await b.receiveNothing());

  await a.sendMessage(Shout.create({ text: "not me", exclude: true }));
  assert.deepEqual(await b.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [
    Shouted.create({ text: "not me" }),
  ]);
  // The sender gets only its `complete`: no copy and no group_complete.
  assert.deepEqual(await a.receiveJson(), { action: MESSAGE_ACTION_COMPLETE, payload: null });
  assert.ok(await a.receiveNothing());
});

Deno.test("event_complete after an event, after a handler error, after an invalid event", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  const logger = memoryLogger();
  const previous = setLogger(logger);
  try {
    // The channel name is what a worker would be given.
    const channel = comm.consumer!.channelName;

    await EchoConsumer.sendEvent(Notify.create({ text: "hi" }), channel);
    assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
      Notified.create({ text: "hi" }),
    ]);

    await EchoConsumer.sendEvent(Explode.create(), channel);
    assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), []);
    assert.ok(logger.lines.some((l) => l.message === "Event handler error for action 'explode'"));

    // deno-lint-ignore no-explicit-any
    await EchoConsumer.sendEvent({ action: "notify", payload: { text: 5 } } as any, channel);
    assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), []);
    assert.ok(
      logger.lines.some((l) => /event validation failed for action 'notify'/.test(l.message)),
    );

    // Passthrough: forwarded verbatim, then event_complete.
    await EchoConsumer.sendEvent(Forwarded.create({ value: 7 }), channel);
    assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
      Forwarded.create({ value: 7 }),
    ]);
  } finally {
    setLogger(previous);
  }
});

Deno.test("broadcastEvent reaches every connection in the class groups", async () => {
  freshLayer();
  await using a = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await using b = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await EchoConsumer.broadcastEvent(Notify.create({ text: "all" }));
  for (const c of [a, b]) {
    assert.deepEqual(await c.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
      Notified.create({ text: "all" }),
    ]);
  }
});

Deno.test("with sendCompletion off no completion frame is sent", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/quiet", {
    consumer: QuietConsumer,
  });
  await comm.sendMessage(Ping.create());
  assert.deepEqual(await comm.receiveJson(), Pong.create());
  await comm.sendMessage(Shout.create({ text: "x", exclude: false }));
  assert.deepEqual(await comm.receiveJson(), Shouted.create({ text: "x" }));
  // Collect until a short timeout: nothing else (no complete, no group_complete).
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: null, timeout: 50 }), []);
  assert.equal(comm.closeInfo, undefined);
});
