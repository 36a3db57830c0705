/** Origins, connection limits, idle and dead peers, slow clients, rate limits. */
import { z } from "zod";
import {
  App,
  assert,
  type ConnectionHandle,
  Consumer,
  message,
  type MessageOf,
  Ping,
  Pong,
  serveForTests,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";
import { EchoConsumer, freshLayer } from "./fixtures.ts";
import { rawWebSocket } from "../helpers/raw_ws.ts";

const upgradeHeaders = (extra: Record<string, string> = {}) => ({
  upgrade: "websocket",
  connection: "Upgrade",
  "sec-websocket-version": "13",
  "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  ...extra,
});

Deno.test("origins: same-origin by default, lists, '*', functions; checked before anything else", async () => {
  freshLayer();
  const status = async (app: App, origin?: string) =>
    (await new WebsocketCommunicator(app, "/echo", {
      headers: origin ? { origin } : {},
    }).connect()).status;
  const same = new App().ws("/echo", EchoConsumer);
  assert.equal(await status(same), 101, "no Origin header: a non-browser client");
  // The in-process communicator's requests are for http://localhost: its own origin passes, a
  // named host fails the same-origin rule (DNS rebinding; tests/core/origin_test.ts).
  assert.equal(await status(same, "http://localhost"), 101);
  assert.equal(await status(same, "http://switchboard.test"), 403);
  assert.equal(await status(same, "https://evil.example"), 403);
  const listed = new App({ allowedOrigins: ["https://app.example.com"] }).ws("/echo", EchoConsumer);
  assert.equal(await status(listed, "https://app.example.com"), 101);
  assert.equal(await status(listed, "http://app.example.com"), 403, "the scheme counts");
  assert.equal(await status(listed, "http://switchboard.test"), 403);
  const any = new App({ allowedOrigins: "*" }).ws("/echo", EchoConsumer);
  assert.equal(await status(any, "https://evil.example"), 101);
  const fn = new App({ allowedOrigins: (o) => o.endsWith(".trusted.test") }).ws(
    "/echo",
    EchoConsumer,
  );
  assert.equal(await status(fn, "https://a.trusted.test"), 101);
  assert.equal(await status(fn, "https://trusted.test.evil"), 403);
  for (const app of [same, listed, any, fn]) await app.close({ closeLayers: false });
});

Deno.test("origins over a real socket on Deno: a cross-site upgrade is refused with 403", async () => {
  freshLayer();
  const app = new App().ws("/echo", EchoConsumer);
  await using server = await serveForTests(app);
  const refused = await fetch(`${server.httpUrl}/echo`, {
    headers: upgradeHeaders({ origin: "https://evil.example" }),
  });
  assert.equal(refused.status, 403);
  await refused.body?.cancel();
  const accepted = await fetch(`${server.httpUrl}/echo`, {
    headers: upgradeHeaders({ origin: server.httpUrl }),
  });
  assert.equal(accepted.status, 101);
  await accepted.body?.cancel();
});

Deno.test("maxConnections: the next upgrade gets 503", async () => {
  freshLayer();
  const app = new App({ maxConnections: 2 }).ws("/echo", EchoConsumer);
  await using a = await WebsocketCommunicator.connect(app, "/echo");
  await using b = await WebsocketCommunicator.connect(app, "/echo");
  assert.equal((await new WebsocketCommunicator(app, "/echo").connect()).status, 503);
  await a.disconnect();
  await using c = await WebsocketCommunicator.connect(app, "/echo");
  void b;
  void c;
});

Deno.test("idle timeout closes a silent connection with 1001, runs onDisconnect, leaves groups", async () => {
  const layer = freshLayer();
  EchoConsumer.disconnects = [];
  const app = new App({ idleTimeoutMs: 150 }).ws("/echo/:name", EchoConsumer);
  const comm = await WebsocketCommunicator.connect(app, "/echo/idle");
  // Activity keeps it open…
  await comm.sendMessage(Ping.create());
  await comm.receiveAllMessages();
  // …silence closes it.
  const close = await comm.waitForClose();
  assert.deepEqual(close, { code: 1001, reason: "Idle timeout" });
  assert.deepEqual(EchoConsumer.disconnects, ["idle:1001"]);
  assert.deepEqual(layer.groupMembers("echo-all"), []);
  await comm.disconnect();
});

Deno.test({
  name: "heartbeat: a peer that never answers pings is closed and cleaned up",
  sanitizeOps: false, // Deno's internal ping timer
  async fn() {
    const layer = freshLayer();
    EchoConsumer.disconnects = [];
    EchoConsumer.nextDisconnect = Promise.withResolvers();
    const disconnected = EchoConsumer.nextDisconnect.promise;
    const app = new App({ heartbeatSeconds: 1 }).ws("/echo/:name", EchoConsumer);
    await using server = await serveForTests(app);
    const raw = await rawWebSocket(server.port, "/echo/dead");
    assert.equal(raw.status, 101);
    const { pings } = await raw.closed; // the server gives up on us
    raw.close();
    assert.ok(pings >= 1, "the server pinged before closing");
    // onDisconnect runs once the runtime reports the close.
    await disconnected;
    assert.equal(EchoConsumer.disconnects.length, 1);
    assert.deepEqual(layer.groupMembers("echo-all"), []);
    assert.equal(app.connectionCount, 0);
  },
});

Deno.test("invalid UTF-8 in a text frame: the runtime drops that socket, the server goes on", async () => {
  freshLayer();
  const app = new App().ws("/echo/:name", EchoConsumer);
  await using server = await serveForTests(app);
  const raw = await rawWebSocket(server.port, "/echo/bad", { pong: true });
  await raw.send(0x1, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
  // Deno drops the TCP connection (no close frame); a close frame, if any, must say 1007.
  const { closeCode } = await raw.closed;
  raw.close();
  assert.ok(closeCode === undefined || closeCode === 1007, `close code ${closeCode}`);
  await using comm = await WebsocketCommunicator.connect(app, "/echo/good", { url: server.url });
  await comm.sendMessage(Ping.create());
  assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
});

// ---- slow clients: a socket whose queue we control ------------------------------------------

const Tick = message("tick", z.object({ n: z.number() }), { droppable: true });
const Important = message("important", z.object({ n: z.number() }));
const Go = message("go", z.object({ kind: z.enum(["tick", "important"]), n: z.number() }));

class Streamer extends Consumer {
  static override layer = "core-tests";
  static override groups = ["stream"];
  @wsHandler(Go)
  async handleGo(m: MessageOf<typeof Go>) {
    const msg = m.payload.kind === "tick"
      ? Tick.create({ n: m.payload.n })
      : Important.create({ n: m.payload.n });
    await this.broadcastMessage(msg);
  }
}

interface FakeClient {
  frames: Array<{ action: string }>;
  closed: { code: number; reason: string } | undefined;
  bufferedAmount: number;
  handle: ConnectionHandle;
}

async function fakeClient(app: App): Promise<FakeClient> {
  const decision = await app.upgrade(
    new Request("http://x/stream", { headers: { upgrade: "websocket" } }),
  );
  assert.ok(decision.accepted);
  const client = { frames: [], closed: undefined, bufferedAmount: 0 } as unknown as FakeClient;
  client.handle = decision.accept({
    send: (data) => client.frames.push(JSON.parse(data)),
    close: (code = 1000, reason = "") => {
      client.closed = { code, reason };
      void client.handle.closed(code, reason);
    },
    get bufferedAmount() {
      return client.bufferedAmount;
    },
  });
  await client.handle.opened();
  return client;
}

async function settle(client: FakeClient): Promise<void> {
  // The fake socket has no events to await: let the connection's queues run.
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
  void client;
}

Deno.test("slow client, policy close: past the limit it is closed with 1013; others keep receiving", async () => {
  freshLayer();
  const app = new App({ maxBufferedBytes: 1000 }).ws("/stream", Streamer);
  const slow = await fakeClient(app);
  const fast = await fakeClient(app);
  slow.bufferedAmount = 5000;
  fast.handle.text(JSON.stringify(Go.create({ kind: "important", n: 1 })));
  await settle(fast);
  assert.deepEqual(slow.closed, { code: 1013, reason: "Client too slow" });
  assert.deepEqual(fast.frames.map((f) => f.action), ["important"]);
  await fast.handle.closed(1000);
});

Deno.test("slow client, policy drop: droppable frames are dropped, others sent, closed at 4× the limit", async () => {
  freshLayer();
  const app = new App({ maxBufferedBytes: 1000, slowClientPolicy: "drop" }).ws("/stream", Streamer);
  const slow = await fakeClient(app);
  const sender = await fakeClient(app);
  slow.bufferedAmount = 2000;
  for (const [kind, n] of [["tick", 1], ["important", 2], ["tick", 3]] as const) {
    sender.handle.text(JSON.stringify(Go.create({ kind, n })));
  }
  await settle(sender);
  assert.deepEqual(slow.frames, [Important.create({ n: 2 })]);
  assert.equal(slow.closed, undefined);
  assert.equal(sender.frames.length, 3, "the fast member got all three");
  slow.bufferedAmount = 5000;
  sender.handle.text(JSON.stringify(Go.create({ kind: "tick", n: 4 })));
  await settle(sender);
  assert.equal((slow.closed as FakeClient["closed"])?.code, 1013);
  await sender.handle.closed(1000);
});

// ---- rate limits ------------------------------------------------------------------------------

Deno.test("rate limit: over-limit frames get rate_limited errors, persistent abuse closes with 1008", async () => {
  freshLayer();
  const app = new App({ rateLimit: { perSecond: 1, burst: 3, maxViolations: 5 } }).ws(
    "/echo",
    EchoConsumer,
  );
  const comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  for (let i = 0; i < 10; i++) await comm.sendMessage(Ping.create());
  const close = await comm.waitForClose();
  assert.deepEqual(close, { code: 1008, reason: "Rate limit exceeded" });
  const frames = await comm.receiveAllMessages({ stopAction: null, timeout: 1000 });
  const actions = frames.map((m) =>
    m.action === "error" ? (m.payload as Array<{ type: string }>)[0].type : m.action
  );
  assert.deepEqual(actions, [
    "pong",
    "pong",
    "pong",
    "rate_limited",
    "rate_limited",
    "rate_limited",
    "rate_limited",
  ]);
  await comm.disconnect();
});
