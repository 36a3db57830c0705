/** Topic rules, run against any channel layer (memory here; Redis pub/sub in tests/layers). */
import { z } from "zod";
import {
  App,
  assert,
  captureTopicBroadcasts,
  type ChannelLayer,
  Consumer,
  EVENT_ACTION_COMPLETE,
  layers,
  message,
  MESSAGE_ACTION_COMPLETE,
  type MessageOf,
  Ping,
  Pong,
  Topic,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";

export const Note = message("note", z.object({ text: z.string() }));
export const Noted = message("noted", z.object({ text: z.string(), where: z.string() }));
export const Alert = message("alert", z.object({ level: z.number() }));

/** Registers the layer under test as "topics-under-test" and returns the suite's app. */
export function topicsSuite(name: string, makeLayer: () => ChannelLayer | Promise<ChannelLayer>) {
  const ALIAS = "topics-under-test";
  const log: string[] = [];

  class DocTopic extends Topic<MessageOf<typeof Alert>> {
    static override pattern = "doc:{id}";
    static override layer = ALIAS;
    static override passthroughEvents = [Alert];
    override authorize(params: Readonly<Record<string, string>>): boolean {
      return params.id !== "secret";
    }
    override onSubscribe(): void {
      log.push(`sub ${this.topic}`);
    }
    override onUnsubscribe(): void {
      log.push(`unsub ${this.topic}`);
    }
    @wsHandler(Note, { output: Noted })
    handleNote(m: MessageOf<typeof Note>): MessageOf<typeof Noted> {
      return Noted.create({ text: m.payload.text, where: `doc ${this.params.id}` });
    }
  }

  /** Same action name as DocTopic: actions are scoped per topic. */
  class SheetTopic extends Topic {
    static override pattern = "sheet:{id}";
    static override layer = ALIAS;
    override onSubscribe(): void {
      log.push(`sub ${this.topic}`);
    }
    override onUnsubscribe(): void {
      log.push(`unsub ${this.topic}`);
    }
    @wsHandler(Note, { output: Noted })
    handleNote(m: MessageOf<typeof Note>): MessageOf<typeof Noted> {
      return Noted.create({ text: m.payload.text, where: `sheet ${this.params.id}` });
    }
  }

  class Hub extends Consumer {
    static override layer = ALIAS;
    static override topics = [DocTopic, SheetTopic];
    static override sendCompletion = true;
    @wsHandler(Ping, { output: Pong })
    handlePing(_m: MessageOf<typeof Ping>) {
      return Pong.create();
    }
  }

  class QuietHub extends Hub {
    static override sendCompletion = false;
  }

  const app = new App()
    .ws("/hub", Hub)
    .ws("/quiet", QuietHub)
    .ws("/doc/:id", DocTopic.asConsumer(Hub));

  const test = (title: string, fn: () => Promise<void>) =>
    Deno.test({
      name: `[${name}] ${title}`,
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        const layer = await makeLayer();
        layers.register(ALIAS, layer);
        log.length = 0;
        try {
          await fn();
        } finally {
          layers.unregister(ALIAS);
          await layer.close();
        }
      },
    });

  test("subscribe, scoped actions, ref echo, hooks exactly once (unsubscribe and disconnect)", async () => {
    const c = await WebsocketCommunicator.connect(app, "/hub", { consumer: Hub });
    assert.equal((await c.subscribe("doc:1", { ref: "a" })).action, "subscribed");
    assert.equal((await c.subscribe("doc:1", { ref: "b" })).action, "subscribed"); // again: no hook
    assert.equal((await c.subscribe("sheet:1")).action, "subscribed");
    assert.deepEqual(log, ["sub doc:1", "sub sheet:1"]);

    await c.sendMessage(Note.create({ text: "x" }), { topic: "doc:1", ref: "r1" });
    await c.sendMessage(Note.create({ text: "y" }), { topic: "sheet:1", ref: "r2" });
    assert.deepEqual(
      await c.receiveAllMessages({
        stopAction: [MESSAGE_ACTION_COMPLETE, MESSAGE_ACTION_COMPLETE],
      }),
      [
        { ...Noted.create({ text: "x", where: "doc 1" }), version: 1, topic: "doc:1", ref: "r1" },
        {
          ...Noted.create({ text: "y", where: "sheet 1" }),
          version: 1,
          topic: "sheet:1",
          ref: "r2",
        },
      ],
    );

    assert.deepEqual(await c.unsubscribe("doc:1", { ref: "u" }), {
      action: "unsubscribed",
      payload: null,
      version: 1,
      topic: "doc:1",
      ref: "u",
    });
    assert.equal((await c.unsubscribe("doc:1")).action, "unsubscribed"); // idempotent
    assert.deepEqual(log, ["sub doc:1", "sub sheet:1", "unsub doc:1"]);
    await c.disconnect();
    assert.deepEqual(log, ["sub doc:1", "sub sheet:1", "unsub doc:1", "unsub sheet:1"]);
  });

  test("unauthorized and unknown topics are error frames with reason and detail", async () => {
    await using c = await WebsocketCommunicator.connect(app, "/hub", { consumer: Hub });
    assert.deepEqual((await c.subscribe("doc:secret", { ref: "1" })).payload, {
      reason: "unauthorized",
      detail: "Not allowed to subscribe to 'doc:secret'",
    });
    assert.deepEqual((await c.subscribe("nope:1", { ref: "2" })).payload, {
      reason: "unknown_topic",
      detail: "Unknown topic 'nope:1'",
    });
    assert.deepEqual(log, []);
  });

  test("broadcasts reach subscribers only, with seq, and stop after unsubscribe", async () => {
    await using a = await WebsocketCommunicator.connect(app, "/hub", { consumer: Hub });
    await using b = await WebsocketCommunicator.connect(app, "/hub", { consumer: Hub });
    await a.subscribe("doc:9");
    await DocTopic.broadcast("doc:9", Alert.create({ level: 3 }), { seq: 41 });
    assert.deepEqual(await a.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
      { ...Alert.create({ level: 3 }), version: 1, topic: "doc:9", seq: 41 },
    ]);
    assert.ok(await b.receiveNothing());
    await a.unsubscribe("doc:9");
    await DocTopic.broadcast("doc:9", Alert.create({ level: 4 }));
    assert.ok(await a.receiveNothing());
    await assert.rejects(
      () => DocTopic.broadcast("sheet:1", Alert.create({ level: 1 })),
      /does not match/,
    );
  });

  test("completion frames follow the host consumer's setting", async () => {
    await using q = await WebsocketCommunicator.connect(app, "/quiet", { consumer: QuietHub });
    await q.subscribe("doc:2");
    await q.sendMessage(Note.create({ text: "z" }), { topic: "doc:2", ref: "7" });
    assert.deepEqual(await q.receiveJson(), {
      ...Noted.create({ text: "z", where: "doc 2" }),
      version: 1,
      topic: "doc:2",
      ref: "7",
    });
    assert.deepEqual(await q.receiveAllMessages({ stopAction: null, timeout: 50 }), []);
  });

  test("standalone route: subscribed on connect, plain frames go to the topic", async () => {
    await using c = await WebsocketCommunicator.connect(app, "/doc/5", { consumer: Hub });
    assert.deepEqual(await c.receiveJson(), {
      action: "subscribed",
      payload: null,
      version: 1,
      topic: "doc:5",
    });
    await c.sendJson({ action: "note", payload: { text: "hi" }, ref: "q" });
    assert.deepEqual(await c.receiveAllMessages(), [
      { ...Noted.create({ text: "hi", where: "doc 5" }), version: 1, topic: "doc:5", ref: "q" },
    ]);
    assert.deepEqual(log, ["sub doc:5"]);
  });

  test("envelope errors, and ref echoed on plain frames", async () => {
    await using c = await WebsocketCommunicator.connect(app, "/hub", { consumer: Hub });
    await c.sendJson({ action: "ping", topic: ["a"] });
    assert.deepEqual(await c.receiveAllMessages(), [{
      action: "error",
      payload: [{ type: "string_type", loc: ["topic"], msg: "Input should be a valid string" }],
    }]);
    await c.sendJson({ action: "ping", version: 2 });
    const [versionError] = await c.receiveAllMessages();
    assert.equal((versionError.payload as Array<{ type: string }>)[0].type, "version_unsupported");
    await c.sendJson({ action: "ping", ref: "p1" });
    assert.deepEqual(await c.receiveJson(), { ...Pong.create(), ref: "p1" });
    assert.deepEqual(await c.receiveJson(), { action: "complete", payload: null, ref: "p1" });
  });

  test("captureTopicBroadcasts records without sending", async () => {
    await using c = await WebsocketCommunicator.connect(app, "/hub", { consumer: Hub });
    await c.subscribe("doc:3");
    {
      using captured = captureTopicBroadcasts(DocTopic);
      await DocTopic.broadcast("doc:3", Alert.create({ level: 1 }), { seq: 2 });
      assert.deepEqual(captured.broadcasts, [{
        topic: "doc:3",
        event: Alert.create({ level: 1 }),
        seq: 2,
      }]);
    }
    assert.ok(await c.receiveNothing());
  });
}
