/**
 * Native group fan-out on Bun (adapters/bun/fanout.ts) gives every member the same bytes as the
 * loop: each scenario runs twice, once with `nativeFanout` on and once off, over real sockets,
 * and every member's frames must be identical (the sender's own, whose `complete` may come
 * before or after its line on either path, compared as a set). Also: a member busy with a layer
 * event is not overtaken (the loop takes the message), and a client over `maxBufferedBytes` gets
 * the slow-client policy (1013) exactly as through the loop.
 *
 *     bun --tsconfig-override=bun.tsconfig.json run tests/runtime/bun_fanout.mjs
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect } from "node:net";
import process from "node:process";
import { z } from "zod";
import {
  App,
  Consumer,
  layers,
  message,
  onEvent,
  onMessage,
  registerHandlers,
} from "@switchboard/switchboard";
import { InMemoryChannelLayer } from "@switchboard/switchboard/adapters/memory";
import { RedisPubSubChannelLayer } from "@switchboard/switchboard/adapters/redis";
import { NatsChannelLayer } from "@switchboard/switchboard/adapters/nats";
import { serve } from "@switchboard/switchboard/adapters/bun";

const LAYER = "bun-fanout";
const Shout = message(
  "shout",
  z.object({ text: z.string(), exclude: z.boolean(), big: z.number() }),
);
const Shouted = message(
  "shouted",
  z.object({ text: z.string(), from_user: z.string(), pad: z.string() }),
);
const Joined = message("joined", z.object({ ok: z.boolean() }));
const Slow = message("slow", z.object({ n: z.number() }));
const Done = message("done", z.object({ n: z.number() }));

let gate = Promise.resolve();
/** The layer channel of each Room that joined, in order. */
const channels = [];

class Room extends Consumer {
  static layer = LAYER;
  static sendCompletion = true;
  async postAuthentication() {
    await this.joinGroup("room");
    channels.push(this.channelName);
    await this.sendMessage(Joined.create({ ok: true }));
  }
  async handleShout(m) {
    await this.broadcastMessage(
      Shouted.create({ text: m.payload.text, from_user: "ünï", pad: "x".repeat(m.payload.big) }),
      { groups: ["room"], excludeCurrent: m.payload.exclude },
    );
  }
  async handleSlow(m) {
    await gate;
    return Done.create({ n: m.payload.n });
  }
}
registerHandlers(Room, {
  handleShout: onMessage(Shout),
  handleSlow: onEvent(Slow, { output: Done }),
});
class CamelRoom extends Room {
  static camelCase = true;
}
class QuietRoom extends Room {
  static sendCompletion = false;
}

/** Shouts to the group without being a member of it. */
class Outsider extends Room {
  async postAuthentication() {
    await this.sendMessage(Joined.create({ ok: true }));
  }
}

function makeApp(options = {}) {
  return new App(options).ws("/plain", Room).ws("/camel", CamelRoom).ws("/quiet", QuietRoom)
    .ws("/outsider", Outsider);
}

/** A masked client text frame (payload under 64 KiB), for a raw socket. */
function maskedText(text) {
  const payload = Buffer.from(text);
  const len = payload.length;
  const header = len < 126
    ? Buffer.from([0x81, 0x80 | len])
    : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 255]);
  const mask = Buffer.from([1, 2, 3, 4]);
  for (let i = 0; i < len; i++) payload[i] ^= mask[i % 4];
  return Buffer.concat([header, mask, payload]);
}

/** A Bun WebSocket client that records every text frame. */
async function client(url) {
  const ws = new WebSocket(url);
  const frames = [];
  let wake = () => {};
  ws.onmessage = (e) => {
    frames.push(e.data);
    wake();
  };
  const closed = new Promise((r) => (ws.onclose = (e) => r(e.code)));
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  const until = async (predicate, what) => {
    const deadline = Date.now() + 20_000;
    while (!predicate(frames)) {
      if (Date.now() > deadline) {
        const brief = frames.map((f) => f.slice(0, 60));
        throw new Error(`${what}: got ${frames.length} frames ${JSON.stringify(brief.slice(-5))}`);
      }
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  await until((f) => f.some((x) => x.includes('"joined"')), "joined");
  frames.length = 0;
  return { ws, frames, until, closed };
}

const hasEnd = (f) => f.some((x) => x.includes('"end"'));

/** One scenario: members of three classes, a driver shouting; the frames every member got. */
async function scenario(nativeFanout, makeLayer = () => new InMemoryChannelLayer()) {
  const layer = makeLayer();
  layers.register(LAYER, layer);
  const server = await serve(makeApp(), { nativeFanout, closeTimeout: 500 });
  // The counters are the process's (one fan-out for every Bun server): this scenario's share.
  const nativeBefore = server.handler.fanout?.native ?? 0;
  try {
    const paths = ["/plain", "/camel", "/quiet", "/plain", "/camel", "/quiet"];
    const members = [];
    for (const p of paths) members.push(await client(server.url + p));
    const driver = await client(server.url + "/camel");
    const shout = (text, exclude = false, big = 0) =>
      driver.ws.send(JSON.stringify({ action: "shout", payload: { text, exclude, big } }));
    shout("one");
    shout("two", true);
    shout("three", false, 3000);
    shout("four", true, 10);
    shout("end");
    for (const m of [...members, driver]) await m.until(hasEnd, "end");
    // The completion after the end line (completion members), then nothing more is expected.
    for (const [i, m] of members.entries()) {
      if (!paths[i].includes("quiet")) {
        await m.until((f) => f.at(-1).includes("group_complete"), "end's complete");
      }
    }
    await driver.until((f) => f.filter((x) => x.includes('"complete"')).length === 5, "completes");
    await driver.until(
      (f) => f.at(-1).includes("group_complete") || f.at(-1).includes('"complete"'),
      "driver",
    );
    const stats = server.handler.fanout;
    const nativeHere = (stats?.native ?? 0) - nativeBefore;
    return {
      members: members.map((m) => m.frames),
      driver: [...driver.frames].sort(),
      stats,
      nativeHere,
    };
  } finally {
    await server.close({ closeLayers: false });
    layers.unregister(LAYER);
    await layer.close();
  }
}

const cases = [];
const test = (name, fn) => cases.push({ name, fn });

test("native and loop give every member the same frames (case modes, completions, exclusion)", async () => {
  const loop = await scenario(false);
  const native = await scenario(true);
  assert.deepEqual(native.members, loop.members);
  assert.deepEqual(native.driver, loop.driver);
  assert.equal(loop.members[0].length, 10, "5 lines, each with its completion");
  assert.ok(loop.members[1][0].includes('"fromUser":"ünï"'), loop.members[1][0].slice(0, 80));
  assert.ok(loop.members[0][0].includes('"from_user":"ünï"'), loop.members[0][0].slice(0, 80));
  assert.equal(loop.members[2].length, 5, "no completions for the quiet class");
  assert.ok(native.nativeHere >= 5, `${native.nativeHere} published natively`);
});

test("the same over the Redis pub/sub layer (its reader fans out locally)", async () => {
  const url = process.env.REDIS_URL;
  if (!url) return "skipped: REDIS_URL is not set";
  const prefix = `bunfanout${Date.now()}`;
  const redis = () => new RedisPubSubChannelLayer({ url, prefix });
  const loop = await scenario(false, redis);
  const native = await scenario(true, redis);
  assert.deepEqual(native.members, loop.members);
  assert.deepEqual(native.driver, loop.driver);
  assert.equal(loop.members[0].length, 10, "5 lines, each with its completion");
  assert.ok(native.nativeHere >= 5, `${native.nativeHere} published natively`);
});

test("the same over the NATS layer (its subscription fans out locally)", async () => {
  const servers = process.env.NATS_URL;
  if (!servers) return "skipped: NATS_URL is not set";
  const prefix = `bunfanout${Date.now()}`;
  const nats = () => new NatsChannelLayer({ servers, prefix });
  const loop = await scenario(false, nats);
  const native = await scenario(true, nats);
  assert.deepEqual(native.members, loop.members);
  assert.deepEqual(native.driver, loop.driver);
  assert.equal(loop.members[0].length, 10, "5 lines, each with its completion");
  assert.ok(native.nativeHere >= 5, `${native.nativeHere} published natively`);
});

test("after the layer's flush(), only members that joined since are reached (native or loop)", async () => {
  const run = async (nativeFanout) => {
    const layer = new InMemoryChannelLayer();
    layers.register(LAYER, layer);
    const server = await serve(makeApp(), { nativeFanout, closeTimeout: 500 });
    try {
      const before = [await client(server.url + "/plain"), await client(server.url + "/plain")];
      await layer.flush(); // forgets every group: these two are members no more
      const after = await client(server.url + "/plain");
      after.ws.send(
        JSON.stringify({ action: "shout", payload: { text: "end", exclude: false, big: 0 } }),
      );
      await after.until(
        (f) => f.some((x) => x.includes('"action":"complete"')),
        "after's complete",
      );
      await after.until(hasEnd, "after's line");
      // Had the flushed members been sent the line, it would be queued before this answer.
      for (const m of before) {
        m.ws.send(JSON.stringify({ action: "ping", payload: null }));
        await m.until((f) => f.length > 0, "an answer");
      }
      return before.map((m) => m.frames.map((x) => JSON.parse(x).action));
    } finally {
      await server.close({ closeLayers: false });
      layers.unregister(LAYER);
      await layer.close();
    }
  };
  const loop = await run(false);
  const native = await run(true);
  assert.deepEqual(native, loop);
  assert.ok(loop.every((actions) => !actions.includes("shouted")), JSON.stringify(loop));
});

test("a class that turns completions on after its sockets joined: the same frames as the loop", async () => {
  const run = async (nativeFanout) => {
    const layer = new InMemoryChannelLayer();
    layers.register(LAYER, layer);
    const server = await serve(makeApp(), { nativeFanout, closeTimeout: 500 });
    try {
      const quiet = await client(server.url + "/quiet");
      const driver = await client(server.url + "/plain");
      QuietRoom.sendCompletion = true; // as a test does before it waits for group_complete
      driver.ws.send(
        JSON.stringify({ action: "shout", payload: { text: "end", exclude: true, big: 0 } }),
      );
      await quiet.until((f) => f.length === 2, "the line and its completion");
      return quiet.frames;
    } finally {
      QuietRoom.sendCompletion = false;
      await server.close({ closeLayers: false });
      layers.unregister(LAYER);
      await layer.close();
    }
  };
  const loop = await run(false);
  assert.deepEqual(await run(true), loop);
  assert.equal(JSON.parse(loop[1]).action, "group_complete");
});

test("a member busy with a layer event is not overtaken: the loop takes the message", async () => {
  const layer = new InMemoryChannelLayer();
  layers.register(LAYER, layer);
  const server = await serve(makeApp(), { closeTimeout: 500 });
  try {
    const a = await client(server.url + "/plain");
    const b = await client(server.url + "/plain");
    // First a message while both are idle: it goes native, and the fan-out keeps its finding that
    // every member is ready (until the layer's state moves on, as the event below makes it).
    const native = server.handler.fanout.native;
    b.ws.send(
      JSON.stringify({ action: "shout", payload: { text: "warm", exclude: false, big: 0 } }),
    );
    await a.until((f) => f.length === 2, "the idle members' line and its completion");
    assert.equal(server.handler.fanout.native, native + 1, "native while both were idle");
    await b.until((f) => f.some((x) => x.includes('"action":"complete"')), "b's first complete");
    a.frames.length = 0;
    b.frames.length = 0;
    let open;
    gate = new Promise((r) => (open = r));
    await Room.broadcastEvent(Slow.create({ n: 1 }), { groups: ["room"] });
    const declined = server.handler.fanout.declined;
    b.ws.send(
      JSON.stringify({ action: "shout", payload: { text: "end", exclude: false, big: 0 } }),
    );
    await b.until((f) => f.some((x) => x.includes('"action":"complete"')), "b's complete");
    // b's message is handled; the group message waits behind the event on both members.
    assert.equal(a.frames.length, 0, JSON.stringify(a.frames));
    assert.ok(server.handler.fanout.declined > declined, "declined while members were busy");
    open();
    await a.until((f) => f.length >= 4, "a's frames");
    assert.deepEqual(a.frames.map((x) => JSON.parse(x).action), [
      "done",
      "event_complete",
      "shouted",
      "group_complete",
    ]);
  } finally {
    gate = Promise.resolve();
    await server.close({ closeLayers: false });
    layers.unregister(LAYER);
    await layer.close();
  }
});

test("a member the layer drops behind its connection's back is not reached, though the others were all ready", async () => {
  const layer = new InMemoryChannelLayer();
  layers.register(LAYER, layer);
  const server = await serve(makeApp(), { closeTimeout: 500 });
  try {
    channels.length = 0;
    const a = await client(server.url + "/plain");
    const b = await client(server.url + "/plain");
    const shout = (text) =>
      b.ws.send(JSON.stringify({ action: "shout", payload: { text, exclude: false, big: 0 } }));
    shout("one"); // native: both idle, a finding the next message may keep
    await a.until((f) => f.length === 2, "a's first line");
    await layer.groupDiscard("room", channels[0]); // a leaves the layer's group, not told
    const native = server.handler.fanout.native;
    shout("two");
    await b.until((f) => f.some((x) => x.includes('"two"')), "b's second line");
    assert.ok(server.handler.fanout.native > native, "still native for b");
    // a's own message's `complete` comes after anything sent to it before.
    a.ws.send(JSON.stringify({ action: "shout", payload: { text: "3", exclude: true, big: 0 } }));
    await a.until((f) => f.length === 3, "a's complete");
    assert.deepEqual(a.frames.map((x) => JSON.parse(x).action), [
      "shouted",
      "group_complete",
      "complete",
    ]);
  } finally {
    await server.close({ closeLayers: false });
    layers.unregister(LAYER);
    await layer.close();
  }
});

/** A raw WebSocket client that never reads after the handshake (a stalled reader). */
function stalled(port, path) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    socket.once("error", reject);
    socket.on("connect", () =>
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ));
    let seen = "";
    socket.on("data", (chunk) => {
      seen += chunk.toString("latin1");
      if (seen.includes('"joined"')) {
        socket.pause(); // stop reading: the server's buffer grows
        resolve(socket);
      }
    });
  });
}

// 60 KB frames under 64 KiB: every member's buffered bytes are read at each message. 4 KB frames
// under 1 MiB: the fan-out reads them about once per 80 messages (its bound of what was written
// since), and must still see the stalled client fall behind before it is over the limit.
for (const [big, limit, count] of [[60_000, 64 * 1024, 300], [4_000, 1024 * 1024, 5_000]]) {
  test(`a client over maxBufferedBytes gets the slow-client policy (1013), native or not (${big} B frames)`, async () => {
    const layer = new InMemoryChannelLayer({ capacity: 10_000 });
    layers.register(LAYER, layer);
    const server = await serve(makeApp({ maxBufferedBytes: limit }), { closeTimeout: 500 });
    try {
      // The driver excludes itself: it only gets its small `complete` frames (it shares this
      // process's event loop, so it must not be the one that falls behind).
      const driver = await client(server.url + "/camel");
      const slow = await stalled(server.port, "/plain");
      const slowClosed = new Promise((r) => slow.on("close", r));
      const before = { ...server.handler.fanout };
      for (let i = 0; i < count; i++) {
        const payload = { text: `${i}`, exclude: true, big };
        driver.ws.send(JSON.stringify({ action: "shout", payload }));
      }
      await driver.until((f) => f.length === count, "every shout handled");
      assert.ok(server.handler.fanout.native > before.native, "native while the client kept up");
      assert.ok(server.handler.fanout.declined > before.declined, "the loop once it fell behind");
      // Closed by the server: 1013 queued behind what it never read, then dropped after the grace.
      assert.equal(server.handler.app.connectionCount, 1, "the slow client was closed");
      // Bun reports the close at once (its close frame waits behind what the client never read).
      slow.destroy();
      await slowClosed;
    } finally {
      await server.close({ closeLayers: false });
      layers.unregister(LAYER);
      await layer.close();
    }
  });
}

// Found by review: the sender excluded from its own message was left out of the bound of what
// the members hold, so a group whose only member had sent one such message was never read again.
test("a member that excluded itself from its own message still gets the slow-client policy", async () => {
  const run = async (nativeFanout) => {
    const layer = new InMemoryChannelLayer({ capacity: 10_000 });
    layers.register(LAYER, layer);
    const server = await serve(makeApp({ maxBufferedBytes: 64 * 1024 }), {
      nativeFanout,
      closeTimeout: 500,
    });
    try {
      const outsider = await client(server.url + "/outsider");
      const slow = await stalled(server.port, "/plain"); // the group's only member
      const slowClosed = new Promise((r) => slow.on("close", r));
      const mine = { action: "shout", payload: { text: "mine", exclude: true, big: 0 } };
      slow.write(maskedText(JSON.stringify(mine)));
      for (let i = 0; i < 300; i++) {
        const payload = { text: `${i}`, exclude: false, big: 60_000 };
        outsider.ws.send(JSON.stringify({ action: "shout", payload }));
      }
      await outsider.until((f) => f.length === 300, "every shout handled");
      const open = server.handler.app.connectionCount;
      slow.destroy();
      await slowClosed;
      return open;
    } finally {
      await server.close({ closeLayers: false });
      layers.unregister(LAYER);
      await layer.close();
    }
  };
  assert.equal(await run(false), 1, "the loop closed the slow member");
  assert.equal(await run(true), 1, "native closed it too");
});

const counts = { passed: 0, failed: 0, ignored: 0 };
for (const c of cases) {
  if (process.argv[2] && !c.name.includes(process.argv[2])) continue;
  const t0 = Date.now();
  try {
    const skipped = await c.fn();
    if (typeof skipped === "string") {
      counts.ignored++;
      console.log(`bun fan-out: ${c.name} ... ignored (${skipped})`);
      continue;
    }
    counts.passed++;
    console.log(`bun fan-out: ${c.name} ... ok (${Date.now() - t0}ms)`);
  } catch (error) {
    counts.failed++;
    console.log(`bun fan-out: ${c.name} ... FAILED\n${error?.stack ?? error}`);
  }
}
console.log(
  `bun ${Bun.version}: ${counts.passed} passed | ${counts.failed} failed | ${counts.ignored} ignored`,
);
process.exit(counts.failed ? 1 : 0);
