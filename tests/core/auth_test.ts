/** authenticate() runs before the upgrade: a refusal answers 401/403 and no socket is opened. */
import { assert, Ping, Pong, WebsocketCommunicator } from "./deps.ts";
import { freshLayer, GuardedConsumer, makeApp } from "./fixtures.ts";

const app = makeApp();

Deno.test("refusals answer with an HTTP status and open no socket", async (t) => {
  freshLayer();
  GuardedConsumer.connected = 0;
  const before = app.connectionCount;

  await t.step("false → 403", async () => {
    const comm = new WebsocketCommunicator(app, "/guarded/lobby?token=bad");
    const result = await comm.connect();
    assert.equal(result.accepted, false);
    assert.equal(result.status, 403);
  });
  await t.step("a Response → that response", async () => {
    const comm = new WebsocketCommunicator(app, "/guarded/lobby?token=expired");
    assert.deepEqual(await comm.connect(), { accepted: false, status: 401, body: "token expired" });
  });
  await t.step("an exception → 500, logged", async () => {
    const comm = new WebsocketCommunicator(app, "/guarded/lobby?token=throw");
    const result = await comm.connect();
    assert.equal(result.status, 500);
  });
  await t.step("an unknown path → 404", async () => {
    const result = await new WebsocketCommunicator(app, "/nowhere").connect();
    assert.equal(result.status, 404);
  });
  assert.equal(GuardedConsumer.connected, 0, "postAuthentication must not run for refusals");
  assert.equal(app.connectionCount, before);
});

Deno.test("authenticate sees the path and query params; accepted connections work", async () => {
  freshLayer();
  GuardedConsumer.seen = [];
  await using comm = await WebsocketCommunicator.connect(app, "/guarded/room%201?token=good");
  assert.deepEqual(GuardedConsumer.seen, [{ token: "good", room: "room 1" }]);
  await comm.sendMessage(Ping.create());
  assert.deepEqual(await comm.receiveJson(), Pong.create());
});

Deno.test("over a real socket a refusal is an HTTP error before any upgrade", async () => {
  freshLayer();
  const { serveForTests } = await import("./deps.ts");
  await using server = await serveForTests(app);
  const response = await fetch(`${server.httpUrl}/guarded/lobby?token=bad`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    },
  });
  assert.equal(response.status, 403);
  await response.body?.cancel();
  const comm = new WebsocketCommunicator(app, "/guarded/lobby?token=bad", { url: server.url });
  const result = await comm.connect();
  assert.equal(result.accepted, false);
});
