/**
 * The client against served apps over real sockets (Deno's WebSocket and the `ws` package's):
 * ref-correlated requests, errors, timeouts, topics, the offline queue, headers, a server restart
 * in the middle, giving up, and clean close.
 */
import assert from "node:assert/strict";
import { WebSocket as NodeWebSocket } from "ws";
import {
  ClientClosedError,
  ConnectionLostError,
  type ConnectionState,
  createClient,
  QueueFullError,
  RequestError,
  TimeoutError,
  type WebSocketConstructor,
} from "../../client/mod.ts";
import {
  createTestApp,
  type EchoConsumer,
  held,
  type HubConsumer,
  nextHeld,
  type QuietConsumer,
  type RoomTopic,
} from "./fixtures.ts";
import { next, serveOn } from "./serve.ts";

const fast = { initialDelayMs: 20, maxDelayMs: 200 };

for (
  const [runtime, ctor] of [
    ["Deno WebSocket", undefined],
    ["ws package", NodeWebSocket satisfies WebSocketConstructor],
  ] as const
) {
  Deno.test(`client (${runtime}): request() resolves with the reply echoing its ref; on() and messages() see it`, async () => {
    const server = await serveOn(createTestApp());
    const client = createClient<typeof EchoConsumer>(`${server.url}/ws/echo`, { WebSocket: ctor });
    try {
      await client.opened();
      assert.equal(client.state, "open");
      const stream = client.messages("said");
      const seen = next<{ payload: { text: string } }>((h) => client.on("said", h));
      const reply = await client.request({ action: "say", payload: { text: "hi" } });
      assert.equal(reply.action, "said");
      assert.deepEqual(reply.payload, { text: "hi", loud: false }); // the schema default applied
      assert.equal(typeof reply.ref, "string");
      assert.deepEqual((await seen).payload, { text: "hi", loud: false });
      const first = await stream.next();
      assert.equal(first.done, false);
      assert.equal(first.value?.action, "said");
      const second = await client.request({ action: "ping" });
      assert.equal(second.action, "pong");
      assert.notEqual(second.ref, reply.ref);
      assert.equal(client.pendingRequests, 0);
    } finally {
      await client.close();
      await server.close();
    }
  });
}

Deno.test("client: request() rejects with RequestError on error frames carrying its ref", async () => {
  const server = await serveOn(createTestApp());
  await using client = createClient<typeof EchoConsumer>(`${server.url}/ws/echo`);
  try {
    const invalid = await client.request({ action: "say", payload: { text: "" } }).catch((e) => e);
    assert.ok(invalid instanceof RequestError, String(invalid));
    assert.equal(invalid.frame.action, "error");
    const items = invalid.payload as Array<{ loc: unknown[] }>;
    assert.ok(Array.isArray(items) && items.some((i) => i.loc.includes("text")), invalid.message);
    const failed = await client.request({ action: "boom" }).catch((e) => e);
    assert.ok(failed instanceof RequestError);
    assert.deepEqual(failed.payload, { detail: "Failed to process message for boom" });
    // The connection is still usable.
    assert.equal((await client.request({ action: "ping" })).action, "pong");
  } finally {
    await server.close();
  }
});

Deno.test("client: a handler that replies nothing resolves with `complete` (completions on) or times out (off)", async () => {
  const server = await serveOn(createTestApp());
  await using echo = createClient<typeof EchoConsumer>(`${server.url}/ws/echo`);
  await using quiet = createClient<typeof QuietConsumer>(`${server.url}/ws/quiet`);
  try {
    const done = await echo.request({ action: "quiet" });
    assert.equal(done.action, "complete");
    const timedOut = await quiet.request({ action: "quiet" }, { timeoutMs: 150 }).catch((e) => e);
    assert.ok(timedOut instanceof TimeoutError, String(timedOut));
    assert.equal(quiet.pendingRequests, 0);
    // Without completion frames a reply still resolves its request by ref.
    assert.equal((await quiet.request({ action: "ping" })).action, "pong");
  } finally {
    await server.close();
  }
});

Deno.test("client: broadcasts reach every member; listeners can unsubscribe", async () => {
  const server = await serveOn(createTestApp());
  await using a = createClient<typeof EchoConsumer>(`${server.url}/ws/echo`);
  await using b = createClient<typeof EchoConsumer>(`${server.url}/ws/echo`);
  try {
    await Promise.all([a.opened(), b.opened()]);
    const got: string[] = [];
    const off = b.on("shouted", (m) => got.push(m.payload.text));
    const atB = next<{ payload: { text: string } }>((h) => b.on("shouted", h));
    const done = await a.request({ action: "shout", payload: { text: "hello all" } });
    assert.equal(done.action, "complete");
    assert.equal((await atB).payload.text, "hello all");
    off();
    const again = next<{ payload: { text: string } }>((h) => b.on("shouted", h));
    await a.request({ action: "shout", payload: { text: "second" } });
    assert.equal((await again).payload.text, "second");
    assert.deepEqual(got, ["hello all"]);
  } finally {
    await server.close();
  }
});

Deno.test("client: topics — subscribe, typed events, requests on a topic, errors with their reason", async () => {
  const server = await serveOn(createTestApp());
  await using hub = createClient<typeof HubConsumer>(`${server.url}/ws/hub`);
  await using other = createClient<typeof HubConsumer>(`${server.url}/ws/hub`);
  try {
    const room = hub.topic("room:lobby");
    assert.equal(hub.topic("room:lobby"), room);
    await room.subscribe();
    assert.ok(room.subscribed);
    await other.topic("room:lobby").subscribe();
    const event = next<{ payload: { body: string }; topic?: string }>((h) =>
      room.on("room_event", h)
    );
    const reply = await other.topic("room:lobby").request({
      action: "post",
      payload: { body: "hi lobby" },
    });
    assert.equal(reply.action, "posted");
    assert.equal(reply.topic, "room:lobby");
    const got = await event;
    assert.equal(got.payload.body, "hi lobby");
    assert.equal(got.topic, "room:lobby");
    const unknown = await hub.topic("nowhere:1").subscribe().catch((e) => e);
    assert.ok(unknown instanceof RequestError);
    assert.equal(unknown.reason, "unknown_topic");
    assert.equal(hub.topic("nowhere:1").wanted, false);
    await room.unsubscribe();
    assert.equal(room.subscribed, false);
    const notSubscribed = await room.request({ action: "post", payload: { body: "x" } }).catch((
      e,
    ) => e);
    assert.equal(notSubscribed.reason, "not_subscribed");
  } finally {
    await server.close();
  }
});

Deno.test("client: a standalone topic endpoint delivers to the topic handle without subscribing", async () => {
  const server = await serveOn(createTestApp());
  await using client = createClient<typeof RoomTopic>(`${server.url}/ws/room/solo`);
  try {
    const room = client.topic("room:solo");
    const subscribed = next<unknown>((h) => room.on("subscribed", h));
    await client.opened();
    await subscribed;
    const reply = await client.request({ action: "post", payload: { body: "alone" } });
    assert.equal(reply.action, "posted");
    assert.equal(reply.topic, "room:solo");
  } finally {
    await server.close();
  }
});

Deno.test("client: sends before the socket opens are queued and flushed in order; the queue is bounded", async () => {
  const server = await serveOn(createTestApp());
  await using client = createClient<typeof EchoConsumer>(`${server.url}/ws/echo`, {
    maxQueue: 3,
  });
  try {
    assert.equal(client.state, "connecting");
    const stream = client.messages("said");
    for (const text of ["one", "two", "three"]) {
      assert.equal(client.send({ action: "say", payload: { text } }), "queued");
    }
    assert.throws(() => client.send({ action: "say", payload: { text: "four" } }), QueueFullError);
    assert.equal(client.queued, 3);
    const texts: string[] = [];
    for await (const m of stream) {
      texts.push(m.payload.text);
      if (texts.length === 3) break;
    }
    assert.deepEqual(texts, ["one", "two", "three"]);
    assert.equal(client.queued, 0);
    assert.equal(client.send({ action: "ping" }), "sent");
  } finally {
    await server.close();
  }
});

for (
  const [runtime, ctor] of [
    ["Deno WebSocket", undefined],
    ["ws package", NodeWebSocket satisfies WebSocketConstructor],
  ] as const
) {
  Deno.test(`client (${runtime}): headers reach authenticate; without them the upgrade is refused`, async () => {
    const server = await serveOn(createTestApp());
    try {
      await using ok = createClient(`${server.url}/ws/token`, {
        WebSocket: ctor,
        headers: { "x-token": "secret" },
      });
      assert.equal((await ok.request({ action: "ping" })).action, "pong");
      await using refused = createClient(`${server.url}/ws/token`, {
        WebSocket: ctor,
        reconnect: false,
      });
      const error = await refused.opened().catch((e) => e);
      assert.ok(error instanceof ClientClosedError, String(error));
      assert.equal(refused.state, "closed");
    } finally {
      await server.close();
    }
  });
}

Deno.test("client: a server restart in the middle — in-flight requests fail, the client reconnects with backoff, re-subscribes and flushes its queue", async () => {
  const first = await serveOn(createTestApp());
  const port = first.port;
  const states: ConnectionState[] = [];
  const hub = createClient<typeof HubConsumer>(`${first.url}/ws/hub`, { reconnect: fast });
  const echo = createClient<typeof EchoConsumer>(`${first.url}/ws/echo`, { reconnect: fast });
  const delays: Array<number | undefined> = [];
  hub.onState((s, info) => {
    states.push(s);
    if (s === "reconnecting") delays.push(info.delayMs);
  });
  let second: Awaited<ReturnType<typeof serveOn>> | undefined;
  try {
    const room = hub.topic("room:restart");
    await room.subscribe();
    const events: string[] = [];
    room.on("room_event", (m) => events.push(m.payload.body));

    // A request the server is still working on when it goes away.
    const inFlight = echo.request({ action: "hold", payload: { tag: "t" } }).catch((e) => e);
    await nextHeld();

    const down = next<ConnectionState>((h) => hub.onState(h), (s) => s === "reconnecting");
    await first.close();
    await down;
    const lost = await inFlight;
    assert.ok(lost instanceof ConnectionLostError, String(lost));
    assert.equal(room.subscribed, false);
    assert.equal(room.wanted, true);

    // Offline: sends are queued, not lost.
    assert.equal(room.send({ action: "post", payload: { body: "sent while down" } }), "queued");
    assert.equal(echo.send({ action: "say", payload: { text: "queued echo" } }), "queued");
    const echoed = next<{ payload: { text: string } }>((h) => echo.on("said", h));

    const reopened = next<{ reconnected: boolean }>((h) => hub.onOpen(h));
    const eventBack = next<{ payload: { body: string } }>((h) => room.on("room_event", h));
    second = await serveOn(createTestApp(), port);
    assert.deepEqual(await reopened, { reconnected: true });
    // The queued post went out after the re-subscription, so its broadcast came back to us.
    assert.equal((await eventBack).payload.body, "sent while down");
    assert.ok(room.subscribed);
    assert.equal((await echoed).payload.text, "queued echo");

    // Another client on the new server reaches the re-subscribed topic.
    await using other = createClient<typeof HubConsumer>(`${second.url}/ws/hub`);
    await other.topic("room:restart").subscribe();
    const fromOther = next<{ payload: { body: string } }>((h) => room.on("room_event", h));
    await other.topic("room:restart").request({ action: "post", payload: { body: "after" } });
    assert.equal((await fromOther).payload.body, "after");
    assert.deepEqual(events, ["sent while down", "after"]);
    assert.ok(states.includes("reconnecting"));
    assert.equal(states.at(-1), "open");
    // Each attempt is announced once, when it is scheduled (with its delay).
    assert.ok(delays.length > 0 && delays.every((d) => typeof d === "number"), String(delays));
  } finally {
    for (const release of held.splice(0)) release("released");
    await hub.close();
    await echo.close();
    await second?.close();
  }
});

Deno.test("client: gives up after maxAttempts and closes; pending requests reject; onState reports each attempt once", async () => {
  // A port nobody listens on: serve, note the port, stop.
  const gone = await serveOn(createTestApp());
  await gone.close();
  const client = createClient<typeof EchoConsumer>(`${gone.url}/ws/echo`, {
    reconnect: { initialDelayMs: 10, maxDelayMs: 20, maxAttempts: 3, jitter: false },
  });
  const states: Array<[ConnectionState, number, number | undefined]> = [];
  client.onState((s, info) => states.push([s, info.attempt, info.delayMs]));
  const pending = client.request({ action: "ping" }).catch((e) => e);
  const error = await client.opened().catch((e) => e);
  assert.ok(error instanceof ClientClosedError, String(error));
  assert.ok((await pending) instanceof ClientClosedError);
  assert.equal(client.state, "closed");
  // One `reconnecting` per scheduled attempt (with its delay), then `closed`.
  assert.deepEqual(states, [
    ["reconnecting", 1, 10],
    ["reconnecting", 2, 20],
    ["closed", 3, undefined],
  ]);
  await client.close();
});

Deno.test("client: close() rejects pending requests, ends iterators and stops reconnecting", async () => {
  const server = await serveOn(createTestApp());
  const client = createClient<typeof EchoConsumer>(`${server.url}/ws/echo`, { reconnect: fast });
  try {
    await client.opened();
    const stream = client.messages();
    const pending = client.request({ action: "hold", payload: { tag: "c" } }).catch((e) => e);
    await nextHeld();
    const states: ConnectionState[] = [];
    client.onState((s) => states.push(s));
    await client.close();
    assert.ok((await pending) instanceof ClientClosedError);
    assert.deepEqual(await stream.next(), { value: undefined, done: true });
    assert.equal(client.state, "closed");
    assert.deepEqual(states, ["closed"]);
    assert.throws(() => client.send({ action: "ping" }), ClientClosedError);
    assert.equal(await client.close(), undefined); // idempotent
  } finally {
    for (const release of held.splice(0)) release("released");
    await server.close();
  }
});
