/**
 * The communicator's Phoenix-style assertions (assertReceives, refuteReceives) and its Chanx
 * compatibility options for receiveAllMessages (onTimeout, chanx mode).
 */
import { AssertionError } from "node:assert";
import {
  assert,
  type MessageOf,
  Ping,
  Pong,
  ReceiveTimeoutError,
  WebsocketCommunicator,
} from "./deps.ts";
import { EchoConsumer, freshLayer, makeApp, QuietConsumer, Said, Say } from "./fixtures.ts";

const app = makeApp();

Deno.test("assertReceives(message) takes the matching frame; the others stay queued in order", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.sendMessage(Ping.create());
  await comm.sendMessage(Say.create({ text: "hi" }));
  assert.deepEqual(await comm.assertReceives(Said.create({ text: "hi" })), {
    action: "said",
    payload: { text: "hi" },
  });
  // The pong and both completions were skipped, not taken.
  assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
  assert.deepEqual(await comm.receiveAllMessages(), []);
  assert.equal(await comm.receiveNothing(), true);
});

Deno.test("assertReceives(action) matches any payload and returns the frame", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.sendMessage(Say.create({ text: "x" }));
  const frame = await comm.assertReceives<MessageOf<typeof Said>>("said");
  assert.deepEqual(frame.payload, { text: "x" });
  assert.deepEqual(await comm.assertReceives("complete"), { action: "complete", payload: null });
});

Deno.test("assertReceives fails with an AssertionError diffing the expectation against what came", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.sendMessage(Say.create({ text: "hello" }));
  await comm.assertReceives("complete"); // the server is done; `said` is queued
  await assert.rejects(
    () => comm.assertReceives(Said.create({ text: "bye" }), { timeout: 50 }),
    (e: unknown) => {
      assert.ok(e instanceof AssertionError);
      assert.deepEqual(e.expected, [{ action: "said", payload: { text: "bye" } }]);
      assert.deepEqual(e.actual, [{ action: "said", payload: { text: "hello" } }]);
      assert.match(e.message, /assertReceives\(\/echo\): no frame with .*"bye".* within 50 ms/);
      // The diff: + actual - expected, line by line.
      assert.match(e.message, /\+ actual - expected/);
      assert.match(e.message, /\+ +text: 'hello'/);
      assert.match(e.message, /- +text: 'bye'/);
      return true;
    },
  );
  // A failed assertion takes nothing.
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: "said" }), [
    Said.create({ text: "hello" }),
  ]);
});

Deno.test("assertReceives(action) failure lists the actions that came, and the frames", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.sendMessage(Ping.create());
  await assert.rejects(
    () => comm.assertReceives("said", { timeout: 50 }),
    (e: unknown) => {
      assert.ok(e instanceof AssertionError);
      assert.deepEqual(e.expected, ["said"]);
      assert.deepEqual(e.actual, ["pong", "complete"]);
      assert.match(e.message, /"action":"pong"/);
      return true;
    },
  );
});

Deno.test("assertReceives fails at once when the connection closes first", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.disconnect();
  const started = Date.now();
  await assert.rejects(
    () => comm.assertReceives("said", { timeout: 60_000 }),
    (e: unknown) =>
      e instanceof AssertionError && /before the connection closed \(code 1000\)/.test(e.message),
  );
  assert.ok(Date.now() - started < 30_000, "did not wait for the timeout");
});

Deno.test("refuteReceives passes on silence and takes nothing", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.sendMessage(Ping.create());
  await comm.assertReceives("complete");
  // A pong is queued, but no `said`: passes, and the pong stays.
  await comm.refuteReceives("said", { within: 30 });
  await comm.refuteReceives(Said.create({ text: "x" }), { within: 30 });
  assert.deepEqual(await comm.assertReceives(Pong.create()), Pong.create());
});

Deno.test("refuteReceives fails on a queued frame, and on one that arrives during the window", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.sendMessage(Ping.create());
  await comm.assertReceives("complete");
  await assert.rejects(
    () => comm.refuteReceives(Pong.create(), { within: 30 }),
    (e: unknown) => {
      assert.ok(e instanceof AssertionError);
      assert.deepEqual(e.actual, { action: "pong", payload: null });
      assert.match(
        e.message,
        /refuteReceives\(\/echo\): a frame with .*pong.* arrived within 30 ms/,
      );
      return true;
    },
  );
  // Arriving mid-window: the wait wakes on the frame, it does not sleep the window out.
  const refuted = comm.refuteReceives("said", { within: 60_000 });
  const started = Date.now();
  await comm.sendMessage(Say.create({ text: "late" }));
  await assert.rejects(() => refuted, AssertionError);
  assert.ok(Date.now() - started < 30_000, "woke on the frame");
});

Deno.test("refuteReceives ends early on a closed connection: nothing can arrive", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.disconnect();
  const started = Date.now();
  await comm.refuteReceives("said", { within: 60_000 });
  assert.ok(Date.now() - started < 30_000);
});

Deno.test("receiveAllMessages onTimeout 'return': what arrived, as Chanx; the default still throws", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.sendMessage(Ping.create());
  await comm.assertReceives("complete");
  await comm.sendMessage(Say.create({ text: "a" }));
  assert.deepEqual(
    await comm.receiveAllMessages({ stopAction: "never", timeout: 100, onTimeout: "return" }),
    [Pong.create(), Said.create({ text: "a" })],
  );
  await comm.sendMessage(Ping.create());
  await assert.rejects(
    () => comm.receiveAllMessages({ stopAction: "never", timeout: 100 }),
    ReceiveTimeoutError,
  );
});

Deno.test("without completions, onTimeout 'return' collects until the timeout instead of failing fast", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/quiet", {
    consumer: QuietConsumer,
  });
  await comm.sendMessage(Ping.create());
  // Ours: fails at once, explaining that no `complete` is ever sent.
  await assert.rejects(() => comm.receiveAllMessages(), /sendCompletion is false/);
  // Chanx's: returns what arrived within the timeout.
  await comm.sendMessage(Ping.create());
  assert.deepEqual(await comm.receiveAllMessages({ timeout: 150, onTimeout: "return" }), [
    Pong.create(),
    Pong.create(),
  ]);
});

Deno.test("chanx: true makes onTimeout 'return' the default; an explicit option still wins", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/quiet", {
    consumer: QuietConsumer,
    chanx: true,
  });
  await comm.sendMessage(Ping.create());
  assert.deepEqual(await comm.receiveAllMessages({ timeout: 100 }), [Pong.create()]);
  await assert.rejects(
    () => comm.receiveAllMessages({ timeout: 100, onTimeout: "throw" }),
    /sendCompletion is false/,
  );
});

Deno.test("onTimeout 'return' still throws when the connection closes before the stop frame", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", {
    consumer: EchoConsumer,
    chanx: true,
  });
  await comm.disconnect();
  await assert.rejects(
    () => comm.receiveAllMessages({ timeout: 60_000 }),
    (e: unknown) => e instanceof Error && /the connection closed \(code 1000\)/.test(e.message),
  );
});
