/**
 * Deno side of issue #12: the decorator-free form (examples/node/app.mjs, plain JavaScript) defines
 * the same consumers as the decorated tutorial, and the Node adapter (node:http + npm:ws) serves
 * an app under Deno too. The Node suite itself is tests/node/*.node.mjs (`deno task test:node`).
 */
import assert from "node:assert/strict";
import { z } from "zod";
import {
  App,
  Consumer,
  generateAsyncApi,
  type HandlerTable,
  handlerTable,
  LayerNotFoundError,
  memoryLogger,
  Ping,
  Pong,
  setLogger,
} from "../../mod.ts";
import { serve } from "../../adapters/node/mod.ts";
import { WebsocketCommunicator } from "../../testing/mod.ts";
import { RoomChatConsumer } from "../../examples/tutorial/room_chat/consumer.ts";
import { SystemMessageConsumer } from "../../examples/tutorial/system/consumer.ts";
import * as plain from "../../examples/node/app.mjs";

function describeTable(table: HandlerTable) {
  const handlers = (map: HandlerTable["ws"]) =>
    [...map.values()].map((h) => ({
      kind: h.kind,
      action: h.action,
      method: h.method,
      input: {
        action: h.input.action,
        title: h.input.title,
        // Zod schemas by their JSON Schema; a built-in's hand-written one (presence) as it is.
        schema: h.input.schema &&
          ("_zod" in h.input.schema ? z.toJSONSchema(h.input.schema as z.ZodType) : h.input.schema),
      },
      output: h.output.map((o) => [o.action, o.title]),
      summary: h.summary,
      description: h.description,
      tags: h.tags,
      operationId: h.operationId,
      passthrough: h.passthrough,
    }));
  return {
    ws: handlers(table.ws),
    events: handlers(table.events),
    channel: table.channel,
    expected: table.expected,
  };
}

Deno.test("registerHandlers (plain JS) and the decorators give the same handler tables", () => {
  for (
    const [decorated, undecorated] of [
      [SystemMessageConsumer, plain.SystemMessageConsumer],
      [RoomChatConsumer, plain.RoomChatConsumer],
    ] as const
  ) {
    const a = describeTable(handlerTable(decorated));
    const b = describeTable(handlerTable(undecorated));
    assert.ok(a.ws.length > 0);
    assert.deepEqual(b, a, decorated.name);
    assert.equal(undecorated.layer, decorated.layer);
  }
});

Deno.test("both forms produce the same AsyncAPI document", () => {
  const doc = (system: typeof SystemMessageConsumer, room: typeof RoomChatConsumer) =>
    generateAsyncApi(
      new App({ title: "same", version: "1" }).ws("/ws/system", system).ws(
        "/ws/room/:roomName",
        room,
      ),
      { serverUrl: "localhost:8080" },
    );
  const decorated = doc(SystemMessageConsumer, RoomChatConsumer);
  const undecorated = doc(plain.SystemMessageConsumer, plain.RoomChatConsumer);
  assert.ok(Object.keys(decorated.operations ?? {}).length >= 4);
  assert.deepEqual(undecorated, decorated);
});

Deno.test("the Node adapter serves an app under Deno (node:http + npm:ws)", async () => {
  Deno.env.set("SEND_COMPLETION", "1");
  const app = plain.createApp();
  const server = await serve(app, { port: 0 });
  try {
    const health = await fetch(`${server.httpUrl}/health`);
    assert.deepEqual(await health.json(), { ok: true });
    const comm = await WebsocketCommunicator.connect(app, "/ws/system", {
      url: server.url,
      consumer: plain.SystemMessageConsumer,
    });
    const [welcome] = await comm.receiveAllMessages({ stopAction: "system_echo" });
    assert.equal((welcome as { action: string }).action, "system_echo");
    await comm.sendMessage(Ping.create());
    assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
    const refused = await new WebsocketCommunicator(app, "/ws/nowhere", { url: server.url })
      .connect();
    assert.equal(refused.accepted, false);
    await server.close({ closeLayers: false });
    assert.equal((await comm.waitForClose()).code, 1001);
  } finally {
    await server.close({ closeLayers: false });
  }
});

Deno.test("Node adapter: its own 500s carry an error id (body, x-error-id, log), like the core's", async () => {
  const app = new App().get("/x", () => new Response("fine"));
  const server = await serve(app, { port: 0 });
  const logger = memoryLogger();
  const previous = setLogger(logger);
  try {
    // Failures outside the core's own handling: the app itself throws.
    app.handleHttp = () => Promise.reject(new Error("secret detail"));
    app.upgrade = () => Promise.reject(new Error("secret upgrade detail"));
    const response = await fetch(`${server.httpUrl}/x`);
    assert.equal(response.status, 500);
    const id = response.headers.get("x-error-id");
    assert.match(id ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(await response.text(), `Internal server error (error id ${id})`);
    const upgrade = await fetch(`${server.httpUrl}/ws`, {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      },
    });
    assert.equal(upgrade.status, 500);
    const upgradeId = upgrade.headers.get("x-error-id");
    assert.match(upgradeId ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(
      await upgrade.text(),
      `Upgrade failed with a server error (error id ${upgradeId})`,
    );
    const logged = logger.lines.filter((l) => l.level === "error").map((l) => l.fields?.errorId);
    assert.deepEqual(logged, [id, upgradeId]);
  } finally {
    setLogger(previous);
    await server.close({ closeLayers: false });
  }
});

Deno.test("Node serve() checks the app at start: a missing layer alias is logged before any request", async () => {
  class Unlayered extends Consumer {
    static override layer = "nobody-registered-this";
  }
  const app = new App().ws("/ws/u", Unlayered);
  const logger = memoryLogger();
  const previous = setLogger(logger);
  try {
    const server = await serve(app, { port: 0 });
    await server.close({ closeLayers: false });
  } finally {
    setLogger(previous);
  }
  const errors = logger.lines.filter((l) => l.level === "error");
  assert.equal(errors.length, 1, JSON.stringify(errors.map((l) => l.message)));
  assert.match(
    errors[0].message,
    /^Misconfigured app: Unlayered \(app\.ws\('\/ws\/u'\)\) uses channel layer 'nobody-registered-this'/,
  );
  assert.ok(errors[0].fields?.error instanceof LayerNotFoundError);
});
