/**
 * Client frames nested too deep (attack finding 3) and a client-sent `seq` (finding 7): each gets
 * a clear error frame, and the connection and the other members of its groups are unaffected.
 */
import { z } from "zod";
import {
  App,
  assert,
  Consumer,
  convertKeys,
  decamelize,
  GROUP_ACTION_COMPLETE,
  InMemoryChannelLayerForTests,
  layers,
  memoryLogger,
  message,
  MESSAGE_ACTION_COMPLETE,
  type MessageOf,
  Ping,
  Pong,
  setLogger,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";
import { deepFreeze } from "../../src/layers/mailbox.ts";

const ALIAS = "frame-limits-tests";
const Analytics = message("analytics", z.object({ event: z.string(), data: z.unknown() }));
const Bad = message("bad");

/** Nests `inner` `depth` levels deep in arrays. */
function nested(depth: number, inner: unknown = 0): unknown {
  let value = inner;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** The JSON text of a frame whose `data` is nested `depth` levels (the frame itself adds 3). */
function deepFrame(depth: number): string {
  return `{"action":"analytics","payload":{"event":"e","data":${"[".repeat(depth)}0${
    "]".repeat(depth)
  }}}`;
}

class Hub extends Consumer {
  static override layer = ALIAS;
  static override groups = ["hub"];
  static override sendCompletion = true;
  static override broadcasts = [Analytics];

  @wsHandler(Analytics)
  async handleAnalytics(m: MessageOf<typeof Analytics>): Promise<void> {
    await this.broadcastMessage(Analytics.create(m.payload), { excludeCurrent: true });
  }

  @wsHandler(Ping, { output: Pong })
  handlePing(): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(Bad)
  async handleBad(): Promise<void> {
    await this.sendMessage({ action: "big", payload: { n: 1n } } as never);
    await this.sendMessage(Pong.create());
  }
}

class CamelHub extends Hub {
  static override camelCase = true;
}

function setup(): App {
  layers.register(ALIAS, new InMemoryChannelLayerForTests());
  return new App().ws("/hub", Hub).ws("/camel", CamelHub);
}

const tooDeep = {
  action: "error",
  payload: [{ type: "json_too_deep", loc: [], msg: "Nesting deeper than 64 levels" }],
};

Deno.test("depth 4,000 on a group broadcast: an error frame to the sender, the receiver unaffected", async () => {
  const app = setup();
  await using sender = await WebsocketCommunicator.connect(app, "/hub");
  await using receiver = await WebsocketCommunicator.connect(app, "/hub");
  await sender.sendText(deepFrame(4000));
  assert.deepEqual(await sender.receiveJson(), tooDeep);
  assert.deepEqual(await sender.receiveJson(), { action: MESSAGE_ACTION_COMPLETE, payload: null });
  assert.ok(await receiver.receiveNothing({ timeout: 50 }));
  // Both keep working: a frame at the limit (the frame 1, payload 2, data's arrays 3…64) goes through.
  await sender.sendText(deepFrame(62));
  const expected = { action: "analytics", payload: { event: "e", data: nested(62) } };
  assert.deepEqual(await receiver.receiveJson(), expected);
  assert.deepEqual(await receiver.receiveJson(), { action: GROUP_ACTION_COMPLETE, payload: null });
  assert.deepEqual(await sender.receiveJson(), { action: MESSAGE_ACTION_COMPLETE, payload: null });
  await sender.sendText(deepFrame(63)); // one level more
  assert.deepEqual(await sender.receiveJson(), tooDeep);
  await app.close();
});

Deno.test("the depth scan does not count brackets inside strings, escaped quotes included", async () => {
  const app = setup();
  await using c = await WebsocketCommunicator.connect(app, "/hub");
  await using other = await WebsocketCommunicator.connect(app, "/hub");
  const event = `\\"${"[{".repeat(500)}\\\\`; // a string holding \" then brackets then \\
  await c.sendText(`{"action":"analytics","payload":{"event":"${event}","data":null}}`);
  const got = await other.receiveJson() as { payload: { event: string } };
  assert.equal(got.payload.event, JSON.parse(`"${event}"`));
  await app.close();
});

Deno.test("maxJsonDepth is a consumer setting", async () => {
  class Shallow extends Hub {
    static override maxJsonDepth = 3;
  }
  layers.register(ALIAS, new InMemoryChannelLayerForTests());
  const app = new App().ws("/s", Shallow);
  await using c = await WebsocketCommunicator.connect(app, "/s");
  await c.sendText(deepFrame(2)); // frame, payload, data, one array: 4 levels
  assert.deepEqual(await c.receiveJson(), {
    action: "error",
    payload: [{ type: "json_too_deep", loc: [], msg: "Nesting deeper than 3 levels" }],
  });
  assert.deepEqual(await c.receiveJson(), { action: MESSAGE_ACTION_COMPLETE, payload: null });
  await c.sendJson(Ping.create());
  assert.deepEqual(await c.receiveJson(), Pong.create());
  await app.close();
});

Deno.test("camelCase consumer and a deep payload: an error frame, not a failed handler", async () => {
  const app = setup();
  await using c = await WebsocketCommunicator.connect(app, "/camel", { consumer: CamelHub });
  await c.sendText(deepFrame(10_000));
  assert.deepEqual(await c.receiveJson(), tooDeep);
  await app.close();
});

Deno.test("convertKeys and deepFreeze take any depth (no recursion)", () => {
  let deep: unknown = { leaf_key: 1 };
  for (let i = 0; i < 100_000; i++) deep = { some_key: [deep] };
  const converted = convertKeys(deep, decamelize) as { some_key: unknown[] };
  assert.ok(Array.isArray(converted.some_key));
  const frozen = deepFreeze(deep) as { some_key: unknown[] };
  let node: unknown = frozen;
  let depth = 0;
  while (node && typeof node === "object" && "some_key" in node) {
    assert.ok(Object.isFrozen(node) && Object.isFrozen((node as { some_key: unknown[] }).some_key));
    node = (node as { some_key: unknown[] }).some_key[0];
    depth++;
  }
  assert.equal(depth, 100_000);
  assert.ok(Object.isFrozen(node));
});

Deno.test("a frame that cannot be serialized is logged and answered, and the handler goes on", async () => {
  const app = setup();
  await using c = await WebsocketCommunicator.connect(app, "/hub");
  const logger = memoryLogger();
  const previous = setLogger(logger);
  try {
    await c.sendJson(Bad.create());
    assert.deepEqual(await c.receiveJson(), {
      action: "error",
      payload: { detail: "Failed to process message for big" },
    });
    assert.deepEqual(await c.receiveJson(), Pong.create());
    assert.deepEqual(await c.receiveJson(), { action: MESSAGE_ACTION_COMPLETE, payload: null });
    const errors = logger.lines.filter((l) => l.level === "error").map((l) => l.message);
    assert.deepEqual(errors, ["Hub: could not serialize 'big'; not sent"]);
  } finally {
    setLogger(previous);
  }
  await app.close();
});

Deno.test("seq is server-only: a client frame carrying one is refused with extra_forbidden", async () => {
  const app = setup();
  await using c = await WebsocketCommunicator.connect(app, "/hub");
  for (const seq of ["x", 1, 1.5, null]) {
    await c.sendJson({ action: "ping", payload: null, seq, ref: "r1" });
    assert.deepEqual(await c.receiveJson(), {
      action: "error",
      payload: [{
        type: "extra_forbidden",
        loc: ["seq"],
        msg: "'seq' is set by the server on broadcasts; a client frame must not carry it",
      }],
      ref: "r1",
    });
    assert.deepEqual(await c.receiveJson(), {
      action: MESSAGE_ACTION_COMPLETE,
      payload: null,
      ref: "r1",
    });
  }
  await c.sendJson({ action: "ping", payload: null });
  assert.deepEqual(await c.receiveJson(), Pong.create());
  await app.close();
});
