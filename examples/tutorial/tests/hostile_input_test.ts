/**
 * The tutorial app over real sockets, fed names built to hurt: a topic and a room URL made of
 * a long run of dashes (the input that made `safeGroupName` backtrack quadratically and stall
 * every client), and names of Object.prototype members (`constructor`, `__proto__`, `toString`)
 * as static files, actions, topics, layer aliases, route and query parameters.
 *
 * "Promptly" is relative to a linear pass over the same input measured here (see
 * tests/core/linear_test.ts), plus a floor for the sockets.
 */
import "./test_env.ts";
import assert from "node:assert/strict";
import {
  LayerNotFoundError,
  layers,
  MAX_TOPIC_LENGTH,
  Ping,
  Pong,
  queryParams,
} from "../../../mod.ts";
import { serveForTests, WebsocketCommunicator } from "../../../testing/mod.ts";
import { compilePath } from "../../../src/app/route.ts";
import { rawWebSocket } from "../../../tests/helpers/raw_ws.ts";
import { app } from "../app.ts";
import { translateText } from "../background_jobs/tasks.ts";
import { main as runSenders } from "../external_sender.ts";

const FACTOR = 50;
const FLOOR_MS = 1500;

/** FACTOR × a linear pass over `text` (one regex replacement per character), plus FLOOR_MS. */
function budgetFor(text: string): number {
  const runs = [0, 1].map(() => {
    const start = performance.now();
    text.replace(/[^]/g, "$&");
    return performance.now() - start;
  });
  return FACTOR * Math.min(...runs) + FLOOR_MS;
}

/**
 * The answer to the frame just sent (after any completion still queued from before: over a
 * socket, `subscribe()` may return before its `complete` arrives), and its completion after it.
 */
async function reply(comm: WebsocketCommunicator): Promise<Record<string, unknown>> {
  let frame: Record<string, unknown>;
  do frame = await comm.receiveJson() as Record<string, unknown>; while (
    frame.action === "complete"
  );
  assert.equal((await comm.receiveJson() as { action: string }).action, "complete");
  return frame;
}

/** A ping on `comm` answers pong (then complete); resolves with the time it took. */
async function pingMs(comm: WebsocketCommunicator): Promise<number> {
  const start = performance.now();
  await comm.sendMessage(Ping.create());
  assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
  return performance.now() - start;
}

Deno.test("a topic of 200,000 dashes is answered promptly, and other clients are served meanwhile", async () => {
  await using server = await serveForTests(app);
  const options = { url: server.url };
  await using attacker = await WebsocketCommunicator.connect(app, "/ws/topics", options);
  await using bystander = await WebsocketCommunicator.connect(app, "/ws/topics", options);
  await pingMs(bystander);

  const topic = `room:a${"-".repeat(200_000)}a`;
  const frame = JSON.stringify({ action: "subscribe", topic, ref: "t1" });
  const budget = budgetFor(frame);
  const start = performance.now();
  await attacker.sendText(frame);
  const served = await pingMs(bystander);
  const answer = await attacker.receiveJson() as Record<string, unknown>;
  const answered = performance.now() - start;
  assert.ok(served <= budget, `the other client waited ${served.toFixed(0)} ms (bound ${budget})`);
  assert.ok(answered <= budget, `answered after ${answered.toFixed(0)} ms (bound ${budget})`);
  assert.deepEqual(answer, {
    action: "error",
    payload: [{
      type: "string_too_long",
      loc: ["topic"],
      msg: `String should have at most ${MAX_TOPIC_LENGTH} characters (got ${topic.length})`,
    }],
    ref: "t1",
  });
  assert.deepEqual(await attacker.receiveJson(), { action: "complete", payload: null, ref: "t1" });
  await pingMs(attacker);
});

Deno.test("room URLs of 60,000 dashes connect and answer promptly; other clients are served", async () => {
  await using server = await serveForTests(app);
  const options = { url: server.url };
  await using bystander = await WebsocketCommunicator.connect(app, "/ws/topics", options);
  await pingMs(bystander);

  // 60,000 is about the longest request line Deno accepts; longer ones get 400 (below).
  const room = `a${"-".repeat(60_000)}a`;
  const budget = budgetFor(room);
  // The room chat (safeGroupName on join and broadcast), then the standalone room topic
  // (Topic.format, parse and groupName on connect).
  for (const path of [`/ws/room/${room}`, `/ws/topics/room/${room}`]) {
    const start = performance.now();
    await using attacker = await WebsocketCommunicator.connect(app, path, options);
    const served = await pingMs(bystander);
    if (path.startsWith("/ws/room/")) {
      await pingMs(attacker);
    } else {
      await attacker.sendJson({ action: "echo", payload: { body: "hi" } });
      // after the `subscribed` pushed on connect
      const [subscribed, echoed] = await attacker.receiveAllMessages();
      assert.deepEqual([subscribed.action, echoed.action], ["subscribed", "posted"]);
      assert.equal((echoed as { topic?: string }).topic, `room:${room}`);
    }
    const answered = performance.now() - start;
    assert.ok(served <= budget, `other client waited ${served.toFixed(0)} ms (bound ${budget})`);
    assert.ok(answered <= budget, `${path.slice(0, 20)}… answered after ${answered} ms`);
  }

  // 200,000 dashes: refused by the HTTP server itself, at once, and the app goes on.
  const long = await rawWebSocket(server.port, `/ws/room/a${"-".repeat(200_000)}a`);
  assert.equal(long.status, 400);
  long.close();
  await long.closed;
  await pingMs(bystander);
});

Deno.test("Object.prototype names as static files: clean 404s, over HTTP", async () => {
  await using server = await serveForTests(app);
  for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]) {
    const response = await fetch(`${server.httpUrl}/static/${name}`);
    assert.equal(response.status, 404, name);
    assert.equal(await response.text(), "Not found");
  }
  const page = await fetch(`${server.httpUrl}/static/style.css`);
  assert.equal(page.status, 200);
  await page.body?.cancel();
});

Deno.test("Object.prototype names as actions and topics: clean error frames", async () => {
  await using server = await serveForTests(app);
  await using comm = await WebsocketCommunicator.connect(app, "/ws/topics", { url: server.url });
  await comm.subscribe("room:lobby");
  for (const action of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
    // on the consumer's handler table, then on a topic's
    for (const envelope of [{}, { topic: "room:lobby" }]) {
      await comm.sendJson({ ...envelope, action, payload: null });
      const frame = await reply(comm);
      assert.equal(frame.action, "error", action);
      const [item] = frame.payload as Array<{ type: string }>;
      assert.equal(item.type, "union_tag_invalid", action);
    }
  }
  for (const topic of ["constructor", "__proto__", "toString"]) {
    await comm.sendJson({ action: "subscribe", topic });
    const unknown = await reply(comm);
    assert.equal((unknown.payload as { reason: string }).reason, "unknown_topic", topic);
    await comm.sendJson({ action: "ping", topic });
    const notSubscribed = await reply(comm);
    assert.equal((notSubscribed.payload as { reason: string }).reason, "not_subscribed", topic);
  }
  await pingMs(comm);
});

Deno.test("Object.prototype names as layer aliases, parameters, job contents and sender names", async () => {
  for (const alias of ["constructor", "__proto__", "toString"]) {
    assert.throws(() => layers.get(alias), LayerNotFoundError, alias);
    assert.equal(layers.has(alias), false);
  }
  const params = compilePath("/a/:__proto__/:constructor").match("/a/x/y");
  assert.ok(params && Object.hasOwn(params, "__proto__") && Object.hasOwn(params, "constructor"));
  assert.deepEqual([params.__proto__, params.constructor], ["x", "y"]);
  const query = queryParams(new URLSearchParams("__proto__=1&constructor=2&toString=3"));
  assert.deepEqual(Object.keys(query), ["__proto__", "constructor", "toString"]);
  assert.equal(Object.getPrototypeOf(query), Object.prototype);
  for (const content of ["constructor", "__proto__", "toString"]) {
    assert.equal(
      translateText(content),
      `🌍 Translated: '${content}' → '[TRANSLATED: ${content}]'`,
    );
  }
  assert.equal(translateText("Hello"), "🌍 Translated: 'Hello' → 'hola'");
  await assert.rejects(runSenders(["constructor"], { log: () => {} }), TypeError);
});
