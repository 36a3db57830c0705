/**
 * Every export of the installed package, used at run time: the list below must name each subpath
 * of its package.json `exports` (a new export fails here until it gets a use), and each use does
 * something real with that subpath against the plain-JS tutorial app served by the Node adapter.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import {
  App,
  Consumer,
  DefinitionError,
  LayerUnavailableError,
  Ping,
  Pong,
} from "@switchboard/switchboard";
import { InMemoryChannelLayer } from "@switchboard/switchboard/adapters/memory";
import { App as DenoApp, BaseApp } from "@switchboard/switchboard/adapters/deno";
import { serve as serveOnBun } from "@switchboard/switchboard/adapters/bun";
import { serve } from "@switchboard/switchboard/adapters/node";
import { RedisPubSubChannelLayer } from "@switchboard/switchboard/adapters/redis";
import { NatsChannelLayer } from "@switchboard/switchboard/adapters/nats";
import { asyncApiToYaml, mountAsyncApi } from "@switchboard/switchboard/asyncapi";
import { main as cliMain } from "@switchboard/switchboard/cli";
import { mountMetrics } from "@switchboard/switchboard/metrics";
import { mountInspector } from "@switchboard/switchboard/inspector";
import { currentTraceparent, installTracing } from "@switchboard/switchboard/otel";
import { clientApi, createClient, RequestError } from "@switchboard/switchboard/client";
import { checkClientApi, checkClientApis } from "@switchboard/switchboard/client/check";
import { WebsocketCommunicator } from "@switchboard/switchboard/testing";
import { WebSocket } from "ws";
import { createApp, SystemEchoMessage, UserMessage } from "../../examples/node/app.mjs";

const pkg = JSON.parse(
  readFileSync(
    new URL("../../node_modules/@switchboard/switchboard/package.json", import.meta.url),
  ),
);

/** Subpath → the test below that uses it. */
const USED = {
  ".": "the core builds the app",
  "./adapters/node": "serve() answers over a real socket",
  "./adapters/memory": "the in-memory layer carries a message",
  "./adapters/deno": "its App is the main entry's; without Deno, fetch refuses upgrades with 501",
  "./adapters/bun": "on Bun, serve() answers over a real socket; elsewhere it refuses",
  "./adapters/redis": "the Redis layer carries a message",
  "./adapters/nats": "the NATS layer answers LayerUnavailableError for a server that is not there",
  "./asyncapi": "mountAsyncApi serves the document; asyncApiToYaml writes it",
  "./testing": "an in-process communicator talks to the app",
  "./client": "the typed client requests over ws",
  "./client/check": "checkClientApis agrees; a drifted api is refused",
  "./cli": "the cli module answers --help",
  "./metrics": "mountMetrics serves /metrics in the Prometheus text format",
  "./inspector": "mountInspector serves its page behind its token",
  "./otel": "installTracing installs and uninstalls; no span outside one",
};

describe("every export of the installed package", () => {
  let app;
  let server;
  before(async () => {
    app = mountAsyncApi(createApp());
    mountMetrics(app);
    server = await serve(app, { port: 0 });
  });
  after(() => server.close());

  it("the suite uses each subpath of package.json exports, and each loads", async () => {
    assert.deepEqual(Object.keys(pkg.exports).sort(), Object.keys(USED).sort());
    for (const subpath of Object.keys(pkg.exports)) {
      const module = await import(`${pkg.name}${subpath.slice(1)}`);
      assert.ok(Object.keys(module).length > 0, `${subpath} exports nothing`);
    }
  });

  it("the package ships the LICENSE its package.json names (MIT)", () => {
    assert.equal(pkg.license, "MIT");
    assert.ok(pkg.files.includes("LICENSE"));
    const license = readFileSync(
      new URL("../../node_modules/@switchboard/switchboard/LICENSE", import.meta.url),
      "utf8",
    );
    assert.match(license, /^MIT License\n/);
    assert.equal(typeof pkg.bin?.switchboard, "string");
  });

  it(USED["."], () => {
    assert.ok(app instanceof App);
    assert.deepEqual(app.routes.map((r) => r.consumer.prototype instanceof Consumer), [true, true]);
  });

  it(USED["./adapters/node"], async () => {
    const health = await fetch(`${server.httpUrl}/health`);
    assert.deepEqual(await health.json(), { ok: true });
  });

  it(USED["./adapters/deno"], async () => {
    assert.equal(DenoApp, App);
    assert.ok(new App() instanceof BaseApp);
    const upgrade = new Request("http://localhost/ws/echo", { headers: { upgrade: "websocket" } });
    const response = await new App().ws("/ws/echo", class Echo extends Consumer {}).fetch(upgrade);
    assert.equal(response.status, 501);
  });

  it(USED["./adapters/bun"], async () => {
    if (!process.versions.bun) {
      await assert.rejects(serveOnBun(createApp(), { port: 0 }), TypeError);
      return;
    }
    const bunApp = createApp();
    const bunServer = await serveOnBun(bunApp, { port: 0 });
    try {
      const health = await fetch(`${bunServer.httpUrl}/health`);
      assert.deepEqual(await health.json(), { ok: true });
      const comm = await WebsocketCommunicator.connect(bunApp, "/ws/system", {
        url: bunServer.url,
      });
      await comm.sendMessage(Ping.create());
      // The system consumer greets first; the ping's answer ends the frames.
      assert.deepEqual((await comm.receiveAllMessages()).at(-1), Pong.create());
      await comm.disconnect();
    } finally {
      await bunServer.close({ closeLayers: false });
    }
  });

  it(USED["./adapters/memory"], async () => {
    const layer = new InMemoryChannelLayer();
    const channel = await layer.newChannel();
    await layer.groupAdd("g", channel);
    await layer.groupSend("g", { type: "hello", text: "memory" });
    assert.deepEqual(await layer.receive(channel), { type: "hello", text: "memory" });
    await layer.close();
  });

  it(
    USED["./adapters/redis"],
    { skip: !process.env.REDIS_URL && "REDIS_URL is not set" },
    async () => {
      const layer = new RedisPubSubChannelLayer({
        url: process.env.REDIS_URL,
        prefix: `sb-node-exports-${process.pid}-${Date.now()}`,
      });
      try {
        const channel = await layer.newChannel();
        await layer.send(channel, { type: "hello", text: "redis" });
        assert.deepEqual(await layer.receive(channel), { type: "hello", text: "redis" });
      } finally {
        await layer.close();
      }
    },
  );

  it(USED["./adapters/nats"], async () => {
    // A port nothing listens on (a real NATS exchange runs in nats.node.mjs).
    const layer = new NatsChannelLayer({
      servers: "nats://127.0.0.1:1",
      timeouts: { connectTimeoutMs: 1000 },
    });
    try {
      await assert.rejects(layer.newChannel(), LayerUnavailableError);
    } finally {
      await layer.close();
    }
  });

  it(USED["./asyncapi"], async () => {
    const res = await fetch(`${server.httpUrl}/asyncapi.json`);
    assert.equal(res.status, 200);
    const doc = await res.json();
    assert.equal(doc.asyncapi, "3.0.0");
    assert.ok(Object.keys(doc.channels).length >= 2);
    assert.match(asyncApiToYaml(doc), /^asyncapi: 3\.0\.0$/m);
  });

  it(USED["./testing"], async () => {
    const comm = await WebsocketCommunicator.connect(app, "/ws/system");
    try {
      await comm.receiveAllMessages({ stopAction: "system_echo" }); // the welcome
      await comm.sendMessage(Ping.create());
      assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
    } finally {
      await comm.disconnect();
    }
  });

  it(USED["./client"], async () => {
    const client = createClient(`${server.url}/ws/system`, { WebSocket, reconnect: false });
    try {
      assert.equal((await client.request({ action: "ping" })).action, "pong");
      const echo = await client.request(UserMessage.create({ message: "hi" }));
      assert.deepEqual({ action: echo.action, payload: echo.payload }, {
        action: SystemEchoMessage.action,
        payload: { message: "🔧 System Echo: hi" },
      });
      const error = await client.request({ action: "nope" }).catch((e) => e);
      assert.ok(error instanceof RequestError, String(error));
    } finally {
      await client.close();
    }
  });

  it(USED["./client/check"], () => {
    checkClientApis(app);
    class Drifted extends Consumer {
      static api = clientApi({ send: [Ping] });
    }
    assert.throws(() => checkClientApi(Drifted), DefinitionError);
  });

  it(USED["./metrics"], async () => {
    const res = await fetch(`${server.httpUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^# TYPE switchboard_connections_open gauge$/m);
  });

  it(USED["./inspector"], async () => {
    const inspected = new App();
    mountInspector(inspected, { token: "node-token" });
    const refused = await inspected.fetch(new Request("http://127.0.0.1/inspector"));
    await refused.body?.cancel();
    assert.equal(refused.status, 401);
    const page = await inspected.fetch(new Request("http://127.0.0.1/inspector?token=node-token"));
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Switchboard inspector/);
  });

  it(USED["./otel"], () => {
    const uninstall = installTracing();
    assert.equal(currentTraceparent(), undefined);
    uninstall();
  });

  it(USED["./cli"], async () => {
    const log = console.log;
    let printed = "";
    console.log = (text) => (printed += text);
    try {
      assert.equal(await cliMain(["--help"]), 0);
    } finally {
      console.log = log;
    }
    assert.match(printed, /switchboard <command>/);
  });
});
