/** The communicator's own rules: stop frames, leftovers, receiveNothing, timeouts, real sockets. */
import {
  App,
  assert,
  captureBroadcastEvents,
  Consumer,
  GROUP_ACTION_COMPLETE,
  message,
  type MessageOf,
  Ping,
  Pong,
  ReceiveTimeoutError,
  serveForTests,
  Topic,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";
import {
  ALIAS,
  EchoConsumer,
  freshLayer,
  makeApp,
  Notify,
  QuietConsumer,
  Said,
  Say,
  Shout,
  Shouted,
} from "./fixtures.ts";

const app = makeApp();

Deno.test("the stop frame is returned unless it is a completion; later frames stay queued", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.sendMessage(Say.create({ text: "one" }));
  await comm.sendMessage(Say.create({ text: "two" }));
  // Stop at the first "said": returned, and everything after it stays queued.
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: "said" }), [
    Said.create({ text: "one" }),
  ]);
  // Next call: the first `complete` ends it; completions are never returned.
  assert.deepEqual(await comm.receiveAllMessages(), []);
  assert.deepEqual(await comm.receiveAllMessages(), [Said.create({ text: "two" })]);
});

Deno.test("receiveNothing is true on silence and consumes nothing", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  assert.equal(await comm.receiveNothing(), true);
  await comm.sendMessage(Ping.create());
  assert.equal(await comm.receiveNothing({ timeout: 1000 }), false);
  // The frame that made it false is still there.
  assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
});

Deno.test("a missing stop frame fails with what did arrive, within the timeout", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.sendMessage(Ping.create());
  const started = Date.now();
  await assert.rejects(
    () => comm.receiveAllMessages({ stopAction: "never", timeout: 100 }),
    (e: Error) =>
      e instanceof ReceiveTimeoutError && /no 'never' within 100 ms.*pong/.test(e.message),
  );
  assert.ok(Date.now() - started < 2000);
  // With stopAction null it collects until the timeout without failing.
  await comm.sendMessage(Ping.create());
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: null, timeout: 50 }), [
    Pong.create(),
  ]);
});

Deno.test("disconnect runs onDisconnect exactly once and leaves every group", async () => {
  const layer = freshLayer();
  EchoConsumer.disconnects = [];
  const comm = await WebsocketCommunicator.connect(app, "/echo/alice", { consumer: EchoConsumer });
  const channel = comm.consumer!.channelName;
  assert.deepEqual(layer.groupMembers("echo-all"), [channel]);
  await comm.disconnect(4000);
  await comm.disconnect(4000);
  assert.deepEqual(EchoConsumer.disconnects, ["alice:4000"]);
  assert.deepEqual(layer.groupMembers("echo-all"), []);
});

Deno.test("the same scenario over a real socket", async () => {
  freshLayer();
  await using server = await serveForTests(app);
  await using a = await WebsocketCommunicator.connect(app, "/echo", { url: server.url });
  await using b = await WebsocketCommunicator.connect(app, "/echo", { url: server.url });
  await a.sendMessage(Ping.create());
  assert.deepEqual(await a.receiveAllMessages(), [Pong.create()]);
  await a.sendMessage(Shout.create({ text: "hey", exclude: true }));
  assert.deepEqual(await b.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [
    Shouted.create({ text: "hey" }),
  ]);
  assert.deepEqual(await a.receiveAllMessages(), []);
  assert.ok(await a.receiveNothing());
});

Deno.test("captureBroadcastEvents records without a layer, then restores", async () => {
  freshLayer();
  {
    using captured = captureBroadcastEvents(EchoConsumer);
    await EchoConsumer.broadcastEvent(Notify.create({ text: "x" }), { groups: ["g1"] });
    await EchoConsumer.broadcastEvent(Notify.create({ text: "y" }));
    assert.deepEqual(captured.events, [
      { event: Notify.create({ text: "x" }), groups: ["g1"] },
      { event: Notify.create({ text: "y" }), groups: undefined },
    ]);
  }
  assert.equal(Object.hasOwn(EchoConsumer, "broadcastEvent"), false);
});

Deno.test("waiting for completion frames on a consumer that sends none says so, at once", async () => {
  const quietApp = new App().ws("/quiet", QuietConsumer);
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(quietApp, "/quiet");
  await comm.sendMessage(Ping.create());
  const started = Date.now();
  await assert.rejects(
    () => comm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }),
    (e: Error) => {
      assert.ok(e instanceof ReceiveTimeoutError);
      // Before: "no 'group_complete' within 5000 ms; received [...]", after 5 s.
      assert.match(
        e.message,
        /QuietConsumer\.sendCompletion is false: no 'complete' frames are sent, so 'group_complete' never arrives/,
      );
      return true;
    },
  );
  assert.ok(Date.now() - started < 1000);
  // The frames stay queued for a receive that does not wait for a completion.
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: "pong" }), [Pong.create()]);
});

Deno.test("over a socket, the timeout names sendCompletion when the consumer option is given", async () => {
  const quietApp = new App().ws("/quiet", QuietConsumer);
  freshLayer();
  await using server = await serveForTests(quietApp);
  await using comm = await WebsocketCommunicator.connect(quietApp, "/quiet", {
    url: server.url,
    consumer: QuietConsumer,
  });
  await assert.rejects(
    () => comm.receiveAllMessages({ timeout: 50 }),
    /no 'complete' within 50 ms; received \[\]\. QuietConsumer\.sendCompletion is false: no 'complete' frames are sent/,
  );
});

// --- issue: waitForClose with unread frames, subscribe's own completion, disconnect's promise ---

const Leave = message("leave");

class DocT extends Topic {
  static override pattern = "doc:{id}";
  static override layer = ALIAS;
}

/** Hosts DocT with completions on; `leave` sends three frames, then closes with 4001. */
class HostConsumer extends Consumer {
  static override layer = ALIAS;
  static override topics = [DocT];
  static override sendCompletion = true;
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
  @wsHandler(Leave)
  async handleLeave(_m: MessageOf<typeof Leave>): Promise<void> {
    for (let i = 0; i < 3; i++) await this.sendMessage(Pong.create());
    this.close(4001, "bye");
  }
}

const hostApp = new App().ws("/host", HostConsumer);

Deno.test("waitForClose returns the close though frames wait unread (in-process and over a socket)", async () => {
  freshLayer();
  await using server = await serveForTests(hostApp);
  for (const url of [undefined, server.url]) {
    await using c = await WebsocketCommunicator.connect(hostApp, "/host", { url });
    await c.sendMessage(Leave.create());
    const started = Date.now();
    assert.deepEqual(await c.waitForClose(3000), { code: 4001, reason: "bye" });
    assert.ok(Date.now() - started < 2000, `closed after ${Date.now() - started} ms`);
    // The frames are still there to read.
    assert.deepEqual(await c.receiveJson(), Pong.create());
  }
});

Deno.test("subscribe consumes its own complete, with or without the consumer option, in-process and over a socket", async () => {
  freshLayer();
  await using server = await serveForTests(hostApp);
  for (const url of [undefined, server.url]) {
    for (const consumer of [undefined, HostConsumer]) {
      await using c = await WebsocketCommunicator.connect(hostApp, "/host", { url, consumer });
      const what = `url ${url}, consumer ${consumer?.name}`;
      assert.equal((await c.subscribe("doc:1")).action, "subscribed", what);
      await c.sendMessage(Ping.create(), { ref: "p" });
      // The subscribe's `complete` must not end this receive early.
      assert.deepEqual(await c.receiveAllMessages(), [{ ...Pong.create(), ref: "p" }], what);
      assert.equal((await c.unsubscribe("doc:1")).action, "unsubscribed", what);
      assert.ok(await c.receiveNothing({ timeout: 50 }), what);
    }
  }
});
