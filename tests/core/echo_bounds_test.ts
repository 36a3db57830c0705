/**
 * Error frames and log lines quote client input cut to MAX_ECHO_LENGTH characters (with a
 * `…[+N]` marker): a 1 MiB frame never becomes a 1 MiB error frame, error list or log line.
 * Over-long envelope strings (`ref`, `topic`) are refused without being echoed.
 */
import { z } from "zod";
import {
  App,
  assert,
  assertGroupName,
  Consumer,
  InMemoryChannelLayerForTests,
  InvalidNameError,
  layers,
  MAX_ECHO_LENGTH,
  MAX_ERROR_ITEMS,
  MAX_REF_LENGTH,
  MAX_TOPIC_LENGTH,
  memoryLogger,
  message,
  type MessageOf,
  Ping,
  Pong,
  setLogger,
  Topic,
  truncateForEcho,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";

const ALIAS = "echo-bounds-tests";
const Tags = message("tags", z.object({ tags: z.array(z.string()) }));
const Strict = message("strict", z.object({ a: z.number() }).strict());
const Scores = message("scores", z.record(z.string(), z.number()));

class RoomTopic extends Topic {
  static override pattern = "room:{name}";
  static override layer = ALIAS;
  override authorize(params: Readonly<Record<string, string>>): boolean {
    return !params.name.startsWith("secret");
  }
}

class Hub extends Consumer {
  static override layer = ALIAS;
  static override sendCompletion = false;
  static override topics = [RoomTopic];

  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
  @wsHandler(Tags)
  handleTags(_m: MessageOf<typeof Tags>): void {}
  @wsHandler(Strict)
  handleStrict(_m: MessageOf<typeof Strict>): void {}
  @wsHandler(Scores)
  handleScores(_m: MessageOf<typeof Scores>): void {}
}

const app = new App().ws("/hub", Hub);
const BIG = 1_000_000; // under the 1 MiB frame limit once wrapped in JSON
/** An error frame quoting at most a few bounded values stays under this many characters. */
const SMALL = 4 * MAX_ECHO_LENGTH + 400;

async function connect(): Promise<WebsocketCommunicator> {
  layers.register(ALIAS, new InMemoryChannelLayerForTests());
  return await WebsocketCommunicator.connect(app, "/hub", { consumer: Hub });
}

/** The next frame as text and parsed; the connection still answers ping afterwards. */
async function nextSmallFrame(
  c: WebsocketCommunicator,
  limit = SMALL,
): Promise<Record<string, unknown>> {
  const frame = await c.receiveJson() as Record<string, unknown>;
  const size = JSON.stringify(frame).length;
  assert.ok(size < limit, `an error frame of ${size} characters`);
  await c.sendMessage(Ping.create());
  assert.deepEqual(await c.receiveJson(), Pong.create());
  return frame;
}

Deno.test("truncateForEcho: short text as is, long text cut with a marker, pairs kept whole", () => {
  assert.equal(MAX_ECHO_LENGTH, 200);
  assert.equal(truncateForEcho("abc"), "abc");
  assert.equal(truncateForEcho("x".repeat(200)), "x".repeat(200));
  assert.equal(truncateForEcho("x".repeat(1000)), `${"x".repeat(200)}…[+800]`);
  assert.equal(truncateForEcho("x".repeat(199) + "😀" + "y"), `${"x".repeat(199)}…[+3]`);
});

Deno.test("a 1 MB unknown action is echoed as 200 characters and a marker", async () => {
  await using c = await connect();
  await c.sendJson({ action: "a".repeat(BIG) });
  const frame = await nextSmallFrame(c);
  const [item] = frame.payload as Array<{ type: string; msg: string }>;
  assert.equal(item.type, "union_tag_invalid");
  assert.ok(item.msg.startsWith(`Input tag '${"a".repeat(200)}…[+${BIG - 200}]' found`), item.msg);
});

Deno.test("a non-string action is described as JSON, even one whose toString is not callable", async () => {
  await using c = await connect();
  await c.sendJson({ action: { toString: 1, valueOf: 2 } });
  const [item] = (await nextSmallFrame(c)).payload as Array<{ type: string; msg: string }>;
  assert.equal(item.type, "union_tag_invalid");
  assert.match(item.msg, /^Input tag '\{"toString":1,"valueOf":2\}' found/);
  await c.sendJson({ action: Array.from({ length: BIG / 4 }, () => 1) });
  const [long] = (await nextSmallFrame(c)).payload as Array<{ msg: string }>;
  assert.match(long.msg, /^Input tag '\[1,1,1,.*…\[\+\d+\]' found/);
});

Deno.test("a huge envelope version is quoted cut", async () => {
  await using c = await connect();
  await c.sendJson({ action: "ping", version: "9".repeat(BIG) });
  const [item] = (await nextSmallFrame(c)).payload as Array<{ type: string; msg: string }>;
  assert.equal(item.type, "version_unsupported");
  assert.ok(item.msg.includes("…[+"), item.msg);
});

Deno.test("a ref over MAX_REF_LENGTH is refused, not echoed", async () => {
  await using c = await connect();
  await c.sendJson({ action: "ping", ref: "r".repeat(MAX_REF_LENGTH + 1) });
  const frame = await nextSmallFrame(c);
  assert.deepEqual(frame, {
    action: "error",
    payload: [{
      type: "string_too_long",
      loc: ["ref"],
      msg: `String should have at most ${MAX_REF_LENGTH} characters (got ${MAX_REF_LENGTH + 1})`,
    }],
  });
  await c.sendJson({ action: "ping", ref: "r".repeat(MAX_REF_LENGTH) });
  assert.deepEqual(await c.receiveJson(), { ...Pong.create(), ref: "r".repeat(MAX_REF_LENGTH) });
});

Deno.test("a topic over MAX_TOPIC_LENGTH is refused without echo; a valid ref still rides along", async () => {
  await using c = await connect();
  await c.sendJson({ action: "subscribe", topic: `room:${"a".repeat(BIG)}`, ref: "s1" });
  const frame = await nextSmallFrame(c);
  assert.equal(frame.ref, "s1");
  assert.equal(frame.topic, undefined);
  const [item] = frame.payload as Array<{ type: string; loc: string[] }>;
  assert.deepEqual([item.type, item.loc], ["string_too_long", ["topic"]]);
  // At the limit it is a topic like any other.
  const topic = `room:${"a".repeat(MAX_TOPIC_LENGTH - 5)}`;
  const subscribed = await c.subscribe(topic);
  assert.deepEqual([subscribed.action, subscribed.topic], ["subscribed", topic]);
});

Deno.test("topic errors quote the topic cut, in the frame and in the log line", async () => {
  await using c = await connect();
  const logger = memoryLogger();
  const previous = setLogger(logger);
  try {
    for (const topic of [`nope:${"n".repeat(990)}`, `room:secret${"s".repeat(980)}`]) {
      await c.sendJson({ action: "subscribe", topic });
      const frame = await c.receiveJson() as { payload: { reason: string; detail: string } };
      assert.ok(frame.payload.detail.length < MAX_ECHO_LENGTH + 60, frame.payload.detail);
      assert.ok(frame.payload.detail.includes("…[+"), frame.payload.detail);
    }
    await c.sendJson({ topic: `room:${"x".repeat(990)}`, action: "ping" });
    const notSubscribed = await c.receiveJson() as { payload: { reason: string; detail: string } };
    assert.equal(notSubscribed.payload.reason, "not_subscribed");
    assert.ok(notSubscribed.payload.detail.includes("…[+"));
    const logged = JSON.stringify(logger.lines);
    assert.equal(logger.lines.length, 3);
    assert.ok(logged.length < 3 * (MAX_ECHO_LENGTH + 200), `${logged.length} characters logged`);
  } finally {
    setLogger(previous);
  }
});

Deno.test("validation errors: at most MAX_ERROR_ITEMS items, messages and keys cut", async () => {
  await using c = await connect();
  await c.sendJson({ action: "tags", payload: { tags: Array.from({ length: 100_000 }, () => 1) } });
  const items = (await nextSmallFrame(c, (MAX_ERROR_ITEMS + 1) * SMALL)).payload as Array<
    { type: string; msg: string }
  >;
  assert.equal(items.length, MAX_ERROR_ITEMS + 1);
  assert.deepEqual(items.at(-1), {
    type: "too_many_errors",
    loc: ["tags", "payload"],
    msg: `${100_000 - MAX_ERROR_ITEMS} more errors not listed`,
  });
  // zod quotes unknown keys in its message; a record key is a path segment.
  await c.sendJson({ action: "strict", payload: { a: 1, ["k".repeat(BIG / 2)]: 1 } });
  const [unknown] = (await nextSmallFrame(c)).payload as Array<{ msg: string }>;
  assert.ok(unknown.msg.includes("…[+"), unknown.msg);
  await c.sendJson({ action: "scores", payload: { ["k".repeat(BIG / 2)]: "x" } });
  const [bad] = (await nextSmallFrame(c)).payload as Array<{ loc: string[] }>;
  assert.equal(bad.loc[2], truncateForEcho("k".repeat(BIG / 2)));
});

Deno.test("InvalidNameError quotes the name cut", () => {
  assert.throws(() => assertGroupName("g".repeat(BIG)), (e: unknown) => {
    assert.ok(e instanceof InvalidNameError);
    assert.ok(e.message.length < MAX_ECHO_LENGTH + 300, e.message);
    assert.ok(e.message.includes("…[+"));
    return true;
  });
});

Deno.test("a long path in a refused upgrade is quoted cut", async () => {
  const decision = await app.upgrade(
    new Request(`http://x/nowhere/${"p".repeat(50_000)}`, { headers: { upgrade: "websocket" } }),
  );
  assert.equal(decision.accepted, false);
  if (decision.accepted) return;
  assert.equal(decision.response.status, 404);
  const body = await decision.response.text();
  assert.ok(body.length < MAX_ECHO_LENGTH + 60, body);
});
