/**
 * What the Bun adapter does beyond the shared runtime suite: the connection slot comes back when a
 * client leaves during `authenticate`; a consumer whose `maxFrameBytes` is above the app's gets its
 * own limit (Bun's `maxPayloadLength` is the largest of all routes; the core checks each);
 * `createBunHandler` mounted in a `Bun.serve` of one's own, next to one's own routes; HTTP routes;
 * `serve()` refusing upgrades with 503 while it closes.
 *
 *     bun --tsconfig-override=bun.tsconfig.json run tests/runtime/bun_adapter.mjs
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import process from "node:process";
import { z } from "zod";
import {
  App,
  Consumer,
  message,
  onMessage,
  Ping,
  Pong,
  registerHandlers,
} from "@switchboard/switchboard";
import { WebsocketCommunicator } from "@switchboard/switchboard/testing";
import { createBunHandler, serve } from "@switchboard/switchboard/adapters/bun";
import { createClient, RequestError } from "@switchboard/switchboard/client";

const Say = message("say", z.object({ text: z.string() }));
const Said = message("said", z.object({ length: z.number() }));

let release = () => {};
let entered = () => {};
class Slow extends Consumer {
  static layer = null;
  async authenticate() {
    entered();
    await new Promise((r) => (release = r));
    return true;
  }
  handlePing() {
    return Pong.create();
  }
}
registerHandlers(Slow, { handlePing: onMessage(Ping, { output: Pong }) });

class Echo extends Consumer {
  static layer = null;
  static sendCompletion = true;
  handleSay(m) {
    return Said.create({ length: m.payload.text.length });
  }
  handlePing() {
    return Pong.create();
  }
}
registerHandlers(Echo, {
  handleSay: onMessage(Say, { output: Said }),
  handlePing: onMessage(Ping, { output: Pong }),
});
class Big extends Echo {
  static maxFrameBytes = 64 * 1024;
}

const cases = [];
const test = (name, fn) => cases.push({ name, fn });

test("a client that leaves during authenticate gives its connection slot back", async () => {
  const app = new App({ maxConnections: 1 }).ws("/slow", Slow).ws("/echo", Echo);
  const server = await serve(app, { port: 0 });
  try {
    const authenticating = new Promise((r) => (entered = r));
    const socket = connect(server.port, "127.0.0.1");
    await new Promise((r) => socket.on("connect", r));
    socket.write(
      `GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    // The slot is held while authenticate runs: a second upgrade is refused with 503.
    await authenticating;
    const full = await new WebsocketCommunicator(app, "/echo", { url: server.url }).connect();
    assert.deepEqual([full.accepted, full.status], [false, 503]);
    socket.destroy();
    await new Promise((r) => socket.on("close", r));
    release();
    // The upgrade finds no socket any more: the slot is given back, the next client gets it
    // (retried: Bun learns of the closed request on its own schedule).
    let comm;
    for (let i = 0; i < 100 && !comm; i++) {
      const c = new WebsocketCommunicator(app, "/echo", { url: server.url });
      const r = await c.connect();
      if (r.accepted) comm = c;
      else await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(comm, "the slot never came back");
    await comm.sendMessage(Ping.create());
    assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
    await comm.disconnect();
  } finally {
    release();
    await server.close({ closeLayers: false });
  }
});

test("each consumer's own maxFrameBytes: above the app's for one route, the app's for another", async () => {
  const app = new App({ maxFrameBytes: 1024 }).ws("/echo", Echo).ws("/big", Big);
  const server = await serve(app, { port: 0 });
  try {
    const big = await WebsocketCommunicator.connect(app, "/big", { url: server.url });
    await big.sendMessage(Say.create({ text: "x".repeat(30_000) }));
    assert.deepEqual(await big.receiveAllMessages(), [Said.create({ length: 30_000 })]);
    await big.sendMessage(Say.create({ text: "x".repeat(70_000) }));
    assert.equal((await big.waitForClose()).code, 1009);
    const small = await WebsocketCommunicator.connect(app, "/echo", { url: server.url });
    await small.sendMessage(Say.create({ text: "x".repeat(2_000) }));
    assert.equal((await small.waitForClose()).code, 1009);
  } finally {
    await server.close({ closeLayers: false });
  }
});

test("createBunHandler in a Bun.serve of one's own, next to its own routes; HTTP routes", async () => {
  const app = new App().ws("/echo", Echo).get(
    "/hello/:name",
    (_r, { params }) => new Response(`hello ${params.name}`),
  );
  const sb = createBunHandler(app);
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (request, s) =>
      new URL(request.url).pathname === "/mine" ? new Response("mine") : sb.fetch(request, s),
    websocket: sb.websocket,
  });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    assert.equal(await (await fetch(`${base}/mine`)).text(), "mine");
    assert.equal(await (await fetch(`${base}/hello/bun`)).text(), "hello bun");
    assert.equal((await fetch(`${base}/echo`)).status, 426);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    const comm = await WebsocketCommunicator.connect(app, "/echo", {
      url: `ws://127.0.0.1:${server.port}`,
    });
    await comm.sendMessage(Ping.create());
    assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
    assert.equal(sb.socketCount, 1);
    await sb.close({ closeLayers: false });
    assert.deepEqual(await comm.waitForClose(), { code: 1001, reason: "Server shutting down" });
    assert.equal(sb.socketCount, 0);
  } finally {
    await server.stop(true);
  }
});

test("the typed client on Bun's own WebSocket: request → reply, an unknown action → error", async () => {
  const app = new App().ws("/echo", Echo);
  const server = await serve(app, { port: 0 });
  const client = createClient(`${server.url}/echo`, { reconnect: false }); // global WebSocket
  try {
    assert.equal((await client.request({ action: "ping" })).action, "pong");
    const said = await client.request(Say.create({ text: "héllo" }));
    assert.deepEqual({ action: said.action, payload: said.payload }, Said.create({ length: 5 }));
    const error = await client.request({ action: "nope" }).catch((e) => e);
    assert.ok(error instanceof RequestError, String(error));
  } finally {
    await client.close();
    await server.close({ closeLayers: false });
  }
});

const counts = { passed: 0, failed: 0 };
for (const c of cases) {
  if (process.argv[2] && !c.name.includes(process.argv[2])) continue;
  const t0 = Date.now();
  try {
    await c.fn();
    counts.passed++;
    console.log(`bun adapter: ${c.name} ... ok (${Date.now() - t0}ms)`);
  } catch (error) {
    counts.failed++;
    console.log(`bun adapter: ${c.name} ... FAILED\n${error?.stack ?? error}`);
  }
}
console.log(`bun ${Bun.version}: ${counts.passed} passed | ${counts.failed} failed | 0 ignored`);
process.exit(counts.failed ? 1 : 0);
