/** Communicator drop() (no close frame) and reconnect(), in-process and over a real socket. */
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Ping, Pong } from "../../mod.ts";
import { serveForTests, WebsocketCommunicator } from "../../testing/mod.ts";
import { EchoConsumer, freshLayer, makeApp } from "../core/fixtures.ts";

Deno.test("drop() in-process: the server sees 1006 without a close frame; reconnect() works", async () => {
  freshLayer();
  const app = makeApp();
  const comm = await WebsocketCommunicator.connect(app, "/echo/alice", { consumer: EchoConsumer });
  EchoConsumer.nextDisconnect = Promise.withResolvers();
  await comm.drop();
  assert.equal(await EchoConsumer.nextDisconnect.promise, "alice:1006");
  assert.deepEqual(comm.closeInfo, { code: 1006, reason: "" });
  await comm.sendMessage(Ping.create()); // dropped, like a dead socket's writes
  await using again = await comm.reconnect();
  assert.notEqual(again, comm);
  assert.equal(again.path, "/echo/alice");
  await again.sendMessage(Ping.create());
  assert.deepEqual(await again.receiveAllMessages(), [Pong.create()]);
  await comm.disconnect(); // already closed: a no-op
});

Deno.test("drop() over a real socket destroys the TCP connection (ws); reconnect() reuses url and WebSocket", async () => {
  freshLayer();
  const app = makeApp();
  await using server = await serveForTests(app);
  const comm = await WebsocketCommunicator.connect(app, "/echo/bob", {
    consumer: EchoConsumer,
    url: server.url,
    WebSocket,
  });
  await comm.sendMessage(Ping.create());
  assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
  EchoConsumer.nextDisconnect = Promise.withResolvers();
  await comm.drop();
  assert.equal(comm.closeInfo?.code, 1006);
  const seen = await EchoConsumer.nextDisconnect.promise;
  assert.match(seen, /^bob:/);
  assert.notEqual(seen, "bob:1000", "the server got a clean close");
  await using again = await comm.reconnect();
  await again.sendMessage(Ping.create());
  assert.deepEqual(await again.receiveAllMessages(), [Pong.create()]);
});

Deno.test("drop() over the global WebSocket says what it needs", async () => {
  freshLayer();
  const app = makeApp();
  await using server = await serveForTests(app);
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { url: server.url });
  await assert.rejects(
    comm.drop(),
    (e: Error) => e instanceof TypeError && /ws package/.test(e.message),
  );
});
