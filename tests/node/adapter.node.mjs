/**
 * The Node adapter: HTTP routes, refusals before any socket exists (404, 401, 403, 500), frame
 * size limits (1009), binary frames, `attach` to an existing server, `serveForTests`, and clean
 * shutdown (1001 after `onDisconnect`, then the port is free).
 */
import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import { after, before, describe, it } from "node:test";
import {
  App,
  Consumer,
  memoryLogger,
  message,
  onMessage,
  Ping,
  Pong,
  registerHandlers,
  setLogger,
} from "@switchboard/switchboard";
import { attach, serve } from "@switchboard/switchboard/adapters/node";
import { serveForTests, WebsocketCommunicator } from "@switchboard/switchboard/testing";
import { z } from "zod";
import { once, WebSocket } from "./helpers.mjs";

const Say = message("say", z.object({ text: z.string() }));
const Said = message("said", z.object({ text: z.string() }));

const log = { authenticated: 0, disconnected: [] };
const logger = memoryLogger();
setLogger(logger);
const logged = (level, text) =>
  logger.lines.some((l) => l.level === level && l.message.includes(text));

class Echo extends Consumer {
  static layer = null;
  static sendCompletion = true;
  handlePing() {
    return Pong.create();
  }
  handleSay(m) {
    return Said.create({ text: m.payload.text });
  }
  onDisconnect(code) {
    log.disconnected.push(code);
  }
}
registerHandlers(Echo, {
  handlePing: onMessage(Ping, { output: Pong }),
  handleSay: onMessage(Say, { output: Said }),
});

class Guarded extends Echo {
  authenticate(request) {
    log.authenticated++;
    const token = request.headers.get("authorization");
    if (token === "Bearer boom") throw new Error("auth backend down");
    if (!token) return new Response("Missing token", { status: 401 });
    return token === "Bearer good";
  }
}

class Roomy extends Echo {
  static maxFrameBytes = 8192;
}

function createTestApp() {
  return new App({ maxFrameBytes: 1024 })
    .ws("/ws/echo", Echo)
    .ws("/ws/guarded", Guarded)
    .ws("/ws/roomy", Roomy)
    .get("/hello/:name", (_req, { params }) => new Response(`hello ${params.name}`))
    .post("/echo", async (req) =>
      new Response(await req.text(), {
        headers: { "content-type": req.headers.get("content-type") ?? "text/plain" },
      }))
    .get("/cookies", () => {
      const headers = new Headers();
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      return new Response(null, { status: 204, headers });
    });
}

describe("serve(): HTTP", () => {
  const app = createTestApp();
  let server;
  before(async () => (server = await serve(app, { port: 0 })));
  after(() => server.close());

  it("routes GET with path params", async () => {
    const res = await fetch(`${server.httpUrl}/hello/node`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "hello node");
  });

  it("streams request bodies in and response bodies out", async () => {
    const body = "x".repeat(200_000);
    const res = await fetch(`${server.httpUrl}/echo`, {
      method: "POST",
      body,
      headers: { "content-type": "text/x-test" },
    });
    assert.equal(res.headers.get("content-type"), "text/x-test");
    assert.equal(await res.text(), body);
  });

  it("keeps several set-cookie headers", async () => {
    const res = await fetch(`${server.httpUrl}/cookies`);
    assert.equal(res.status, 204);
    assert.deepEqual(res.headers.getSetCookie(), ["a=1", "b=2"]);
  });

  it("answers 404, 405, and 426 on a WebSocket path", async () => {
    assert.equal((await fetch(`${server.httpUrl}/nope`)).status, 404);
    assert.equal((await fetch(`${server.httpUrl}/echo`)).status, 405);
    const res = await fetch(`${server.httpUrl}/ws/echo`);
    assert.equal(res.status, 426);
    await res.body?.cancel();
  });
});

describe("serve(): WebSocket upgrades", () => {
  const app = createTestApp();
  let server;
  before(async () => (server = await serve(app, { port: 0 })));
  after(() => server.close());
  const connect = (path, headers) =>
    new WebsocketCommunicator(app, path, { url: server.url, WebSocket, headers });

  it("refuses unknown paths with 404 before any socket exists", async () => {
    const result = await connect("/ws/unknown").connect();
    assert.equal(result.accepted, false);
    assert.equal(result.status, 404);
    assert.equal(server.handler.socketCount, 0);
  });

  it("authenticates at upgrade time: 401 (Response), 403 (false), 500 (throws), 101", async () => {
    const before = log.authenticated;
    assert.equal((await connect("/ws/guarded").connect()).status, 401);
    assert.equal(
      (await connect("/ws/guarded", { authorization: "Bearer bad" }).connect()).status,
      403,
    );
    assert.equal(
      (await connect("/ws/guarded", { authorization: "Bearer boom" }).connect()).status,
      500,
    );
    assert.equal(log.authenticated - before, 3);
    assert.ok(logged("error", "Guarded.authenticate failed"));
    assert.equal(server.handler.socketCount, 0);
    const ok = connect("/ws/guarded", { authorization: "Bearer good" });
    assert.equal((await ok.connect()).status, 101);
    await ok.sendMessage(Ping.create());
    assert.deepEqual(await ok.receiveAllMessages(), [Pong.create()]);
    await ok.disconnect();
  });

  it("refuses other upgrades (h2c…) with 400", async () => {
    const req = request(`${server.httpUrl}/ws/echo`, {
      headers: { connection: "Upgrade", upgrade: "h2c" },
    });
    req.end();
    const [res] = await once(req, "response");
    assert.equal(res.statusCode, 400);
    res.resume();
  });

  it("checks the Origin against the Host header (same-origin by default)", async () => {
    const host = new URL(server.url).host;
    const foreign = await connect("/ws/echo", { origin: "https://evil.example" }).connect();
    assert.equal(foreign.status, 403);
    const same = connect("/ws/echo", { origin: `http://${host}` });
    assert.equal((await same.connect()).status, 101);
    await same.disconnect();
  });

  it("sends the refusal's status line and body to a raw ws client", async () => {
    const ws = new WebSocket(`${server.url}/ws/guarded`);
    const [, res] = await once(ws, "unexpected-response");
    assert.equal(res.statusCode, 401);
    let body = "";
    for await (const chunk of res) body += chunk;
    assert.equal(body, "Missing token");
    ws.on("error", () => {}); // terminating a refused handshake reports an error
    ws.terminate();
  });

  it("closes with 1009 on a frame over the app's maxFrameBytes", async () => {
    const comm = connect("/ws/echo");
    await comm.connect();
    await comm.sendMessage(Say.create({ text: "x".repeat(2000) }));
    const info = await comm.waitForClose();
    assert.equal(info.code, 1009);
    assert.ok(logged("warn", "Frame over 1024 bytes"));
  });

  it("honours a consumer's own maxFrameBytes", async () => {
    const comm = connect("/ws/roomy");
    await comm.connect();
    try {
      const text = "y".repeat(4000);
      await comm.sendMessage(Say.create({ text }));
      assert.deepEqual(await comm.receiveAllMessages(), [Said.create({ text })]);
      await comm.sendMessage(Say.create({ text: "z".repeat(9000) }));
      assert.equal((await comm.waitForClose()).code, 1009);
    } finally {
      await comm.disconnect();
    }
  });

  it("answers binary frames with an error frame", async () => {
    const comm = connect("/ws/echo");
    await comm.connect();
    try {
      await comm.sendBytes(new Uint8Array([1, 2, 3]));
      const [error] = await comm.receiveAllMessages();
      assert.equal(error.action, "error");
      assert.equal(error.payload[0].type, "frame_type");
    } finally {
      await comm.disconnect();
    }
  });
});

describe("maxConnections", () => {
  it("refuses upgrades over the limit with 503", async () => {
    const app = new App({ maxConnections: 1 }).ws("/ws/echo", Echo);
    const server = await serve(app, { port: 0 });
    const options = { url: server.url, WebSocket };
    try {
      const first = await WebsocketCommunicator.connect(app, "/ws/echo", options);
      const second = await new WebsocketCommunicator(app, "/ws/echo", options).connect();
      assert.equal(second.status, 503);
      await first.disconnect();
    } finally {
      await server.close({ closeLayers: false });
    }
  });
});

describe("attach() to an existing http.Server", () => {
  it("takes the upgrades and leaves HTTP to the server's own handler", async () => {
    const app = createTestApp();
    const server = createServer((_req, res) => res.end("mine"));
    const attached = attach(server, app);
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address();
    try {
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/hello/x`)).text(), "mine");
      const comm = await WebsocketCommunicator.connect(app, "/ws/echo", {
        url: `ws://127.0.0.1:${port}`,
        WebSocket,
      });
      await comm.sendMessage(Say.create({ text: "hi" }));
      assert.deepEqual(await comm.receiveAllMessages(), [Said.create({ text: "hi" })]);
      await comm.disconnect();
    } finally {
      await attached.close({ closeLayers: false });
      attached.detach();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("serves HTTP routes too with http: true", async () => {
    const app = createTestApp();
    const server = createServer();
    const attached = attach(server, app, { http: true });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${server.address().port}/hello/y`);
      assert.equal(await res.text(), "hello y");
    } finally {
      await attached.close({ closeLayers: false });
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("serveForTests() from the testing module", () => {
  it("serves on a free port on Node", async () => {
    const app = createTestApp();
    const server = await serveForTests(app);
    try {
      const comm = await WebsocketCommunicator.connect(app, "/ws/echo", {
        url: server.url,
        WebSocket,
      });
      await comm.sendMessage(Ping.create());
      assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
      await comm.disconnect();
    } finally {
      await server.close();
    }
  });
});

describe("clean shutdown", () => {
  it("closes sockets with 1001 after onDisconnect, refuses new ones, frees the port", async () => {
    const app = createTestApp();
    const server = await serve(app, { port: 0 });
    const clients = [];
    for (let i = 0; i < 3; i++) {
      clients.push(
        await WebsocketCommunicator.connect(app, "/ws/echo", {
          url: server.url,
          WebSocket,
        }),
      );
    }
    assert.equal(app.connectionCount, 3);
    const seen = log.disconnected.length;
    await server.close({ closeLayers: false });
    for (const c of clients) assert.equal((await c.waitForClose()).code, 1001);
    assert.deepEqual(log.disconnected.slice(seen), [1001, 1001, 1001]);
    assert.equal(app.connectionCount, 0);
    assert.equal(server.server.listening, false);
    await assert.rejects(fetch(`${server.httpUrl}/hello/x`));
    await server.finished;
  });

  it("closes when the signal aborts", async () => {
    const app = createTestApp();
    const controller = new AbortController();
    const server = await serve(app, { port: 0, signal: controller.signal });
    controller.abort();
    await server.finished;
    assert.equal(server.server.listening, false);
  });
});
