/**
 * Limits of the Node adapter over real sockets (issue #15): a frame over the limit refused from
 * its header (1009, nothing buffered), the connection cap under a slow authenticate, a stalled
 * reader dropped after the close grace, every admitted reply then 1008 after a burst, and header
 * and request read timeouts (slow HTTP).
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, it } from "node:test";
import {
  App,
  Consumer,
  message,
  onMessage,
  Ping,
  Pong,
  registerHandlers,
} from "@switchboard/switchboard";
import { serve } from "@switchboard/switchboard/adapters/node";
import { z } from "zod";
import { once, WebSocket } from "./helpers.mjs";

const Flood = message("flood", z.object({ frames: z.number(), size: z.number() }));
const disconnects = [];
/** Node 20 has no Promise.withResolvers. */
function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}
let nextDisconnect = deferred();

class Echo extends Consumer {
  static layer = null;
  static sendCompletion = true;
  static pings = 0;
  handlePing() {
    Echo.pings++;
    return Pong.create();
  }
  handleFlood(m) {
    const chunk = "x".repeat(m.payload.size);
    for (let i = 0; i < m.payload.frames && !this.closed; i++) {
      void this.sendMessage({ action: "chunk", payload: chunk });
    }
  }
  onDisconnect(code) {
    disconnects.push(code);
    nextDisconnect.resolve(code);
  }
}
registerHandlers(Echo, {
  handlePing: onMessage(Ping, { output: Pong }),
  handleFlood: onMessage(Flood),
});

let authenticated = 0;
let nextAuthenticated = deferred();
class SlowAuth extends Echo {
  async authenticate() {
    await new Promise((r) => setTimeout(r, 20)); // an auth backend round trip
    authenticated++;
    nextAuthenticated.resolve();
    return true;
  }
}

/** Resolves with `promise`, or rejects after `ms` (a guard against a hang, not a sleep). */
function within(promise, ms, what) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** A raw TCP client: resolves once connected; `data` collects what the server sent. */
async function rawClient(port) {
  const socket = connect({ host: "127.0.0.1", port });
  await once(socket, "connect");
  const client = { socket, data: Buffer.alloc(0) };
  socket.on("data", (chunk) => (client.data = Buffer.concat([client.data, chunk])));
  client.ended = new Promise((resolve) => socket.once("close", resolve));
  socket.on("error", () => {});
  return client;
}

describe("frame size limit while reading", () => {
  it("refuses a frame declared over maxFrameBytes from its header: 1009, payload never sent", async () => {
    const app = new App({ maxFrameBytes: 1024 * 1024 }).ws("/echo", Echo);
    const server = await serve(app, { port: 0 });
    try {
      const client = await rawClient(server.port);
      client.socket.write(
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
      // A masked text frame header declaring 60 MiB (mask key 0), then 1 KiB; the rest never comes.
      const header = Buffer.alloc(14);
      header[0] = 0x81;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(60n * 1024n * 1024n, 2);
      client.socket.write(Buffer.concat([header, Buffer.alloc(1024)]));
      await within(client.ended, 5000, "close after the oversized header");
      const text = client.data.toString("latin1");
      assert.match(text, /^HTTP\/1\.1 101/);
      const frame = client.data.subarray(text.indexOf("\r\n\r\n") + 4);
      assert.equal(frame[0], 0x88, "a close frame");
      assert.equal(frame.readUInt16BE(2), 1009);
    } finally {
      await server.close();
    }
  });
});

describe("maxConnections under a slow authenticate", () => {
  it("admits at most the cap of 5× as many concurrent upgrades", async () => {
    authenticated = 0;
    const cap = 10;
    const app = new App({ maxConnections: cap }).ws("/echo", SlowAuth);
    const server = await serve(app, { port: 0 });
    try {
      const results = await Promise.all(Array.from({ length: 5 * cap }, () => {
        const ws = new WebSocket(`${server.url}/echo`);
        return new Promise((resolve) => {
          ws.once("open", () => resolve(ws));
          ws.once("unexpected-response", (_req, res) => resolve(res.statusCode));
          ws.once("error", () => resolve("error"));
        });
      }));
      const admitted = results.filter((r) => r instanceof WebSocket);
      assert.equal(admitted.length, cap);
      assert.deepEqual(results.filter((r) => !(r instanceof WebSocket)), Array(4 * cap).fill(503));
      assert.equal(authenticated, cap);
      for (const ws of admitted) ws.close();
    } finally {
      await server.close();
    }
  });

  it("gives the slot back when the client leaves during authenticate", async () => {
    authenticated = 0;
    const app = new App({ maxConnections: 1 }).ws("/echo", SlowAuth);
    const server = await serve(app, { port: 0 });
    try {
      const client = await rawClient(server.port);
      client.socket.write(
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
      nextAuthenticated = deferred();
      client.socket.destroy(); // gone before authenticate answers
      await client.ended;
      await nextAuthenticated.promise;
      const ws = new WebSocket(`${server.url}/echo`);
      await once(ws, "open");
      assert.equal(app.connectionCount, 1);
      ws.close();
      await once(ws, "close");
    } finally {
      await server.close();
    }
  });
});

describe("closing a client that stopped reading", () => {
  // The client pauses ws's TCP socket; on Bun, `ws` is Bun's own client, without one.
  const skip = process.versions.bun && "Bun's `ws` client has no _socket to pause";
  it("drops it after closeTimeoutMs: onDisconnect runs (1006), the socket is released", {
    skip,
  }, async () => {
    disconnects.length = 0;
    nextDisconnect = deferred();
    const app = new App({ maxBufferedBytes: 1 << 20, closeTimeoutMs: 300 }).ws("/echo", Echo);
    const server = await serve(app, { port: 0 });
    try {
      const ws = new WebSocket(`${server.url}/echo`);
      await once(ws, "open");
      ws.send(JSON.stringify(Flood.create({ frames: 64, size: 256 * 1024 })));
      ws._socket.pause(); // reads nothing more: the close frame waits behind 16 MiB
      // ws's own closing handshake timeout is 30 s; the app's grace is 300 ms.
      assert.equal(await within(nextDisconnect.promise, 5000, "onDisconnect"), 1006);
      // The server dropped the TCP connection: reading again, the client reaches its end.
      const closed = once(ws, "close");
      ws._socket.resume();
      await within(closed, 5000, "end of the TCP connection");
      assert.equal(server.handler.socketCount, 0);
    } finally {
      await server.close();
    }
  });
});

describe("rate limit under a burst", () => {
  it("delivers every admitted reply, then closes with 1008", async () => {
    const app = new App({ rateLimit: { perSecond: 100, burst: 100, maxViolations: 20 } })
      .ws("/echo", Echo);
    const server = await serve(app, { port: 0 });
    try {
      Echo.pings = 0;
      const ws = new WebSocket(`${server.url}/echo`);
      await once(ws, "open");
      const seen = [];
      ws.on("message", (data) => {
        const f = JSON.parse(String(data));
        if (f.action === "error") seen.push(f.payload[0].type);
        else if (f.action !== "complete") seen.push(f.action);
      });
      const closed = once(ws, "close");
      const ping = JSON.stringify(Ping.create());
      for (let i = 0; i < 2000; i++) ws.send(ping);
      const [code, reason] = await closed;
      assert.equal(code, 1008);
      assert.equal(String(reason), "Rate limit exceeded");
      // Every frame the server handled was answered: nothing admitted is lost in the close.
      const pongs = seen.filter((a) => a === "pong").length;
      assert.ok(Echo.pings >= 100, `${Echo.pings} handled`);
      assert.equal(pongs, Echo.pings);
      assert.equal(seen.filter((a) => a === "rate_limited").length, 19);
    } finally {
      await server.close();
    }
  });
});

describe("slow HTTP", () => {
  it("serve() bounds header and request reads by default (10 s, 30 s)", async () => {
    const server = await serve(new App(), { port: 0 });
    try {
      assert.equal(server.server.headersTimeout, 10_000);
      assert.equal(server.server.requestTimeout, 30_000);
    } finally {
      await server.close();
    }
  });

  it("closes a request that never finishes its headers within headersTimeout (408)", async () => {
    const app = new App().get("/health", () => Response.json({ ok: true }));
    const server = await serve(app, { port: 0, headersTimeout: 300 });
    try {
      const client = await rawClient(server.port);
      const started = Date.now();
      client.socket.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n");
      await within(client.ended, 5000, "close of the slow request");
      const elapsed = Date.now() - started;
      assert.match(client.data.toString("latin1"), /^HTTP\/1\.1 408/);
      assert.ok(elapsed >= 250, `closed after ${elapsed} ms`);
    } finally {
      await server.close();
    }
  });

  it("closes a request whose body never completes within requestTimeout (408)", async () => {
    const app = new App().post("/upload", async (request) => {
      await request.text();
      return new Response("read");
    });
    const server = await serve(app, { port: 0, headersTimeout: 300, requestTimeout: 500 });
    try {
      const client = await rawClient(server.port);
      client.socket.write(
        "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nonly a part",
      );
      await within(client.ended, 5000, "close of the slow body");
      assert.match(client.data.toString("latin1"), /^HTTP\/1\.1 408/);
    } finally {
      await server.close();
    }
  });
});
