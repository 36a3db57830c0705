/**
 * ONE runtime suite, run on every runtime from a short file (the pattern of crossws's
 * `test/tests.ts`): in-process (`in_process_test.ts`), Deno (`deno_test.ts`) and the Node adapter
 * under Deno (`node_test.ts`). A runtime declares what it can do; a case it cannot run is
 * registered as ignored, its name saying why, so that the skip shows in every test report.
 *
 * Cases: system echo, room chat, error frames, close codes (1009, 1008, the server's own codes),
 * heartbeat, origin check, auth refusal. Real sockets end to end on Deno and Node; every wait is
 * on an event or a frame, never a sleep.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type App, type AppOptions, layers, Ping, Pong } from "@switchboard/switchboard";
import {
  GROUP_ACTION_COMPLETE,
  MESSAGE_ACTION_COMPLETE,
  WebsocketCommunicator,
  type WebSocketConstructor,
} from "@switchboard/switchboard/testing";
import { InMemoryChannelLayer } from "@switchboard/switchboard/adapters/memory";
import { type RawWebSocket, rawWebSocket } from "../helpers/raw_ws.ts";
import {
  Bye,
  Chat,
  Chatted,
  Joined,
  makeApp,
  probe,
  Request_,
  ROOM_LAYER,
  Said,
  Say,
  WhoAmI,
} from "./fixtures.ts";

// --- what a runtime provides ---

/** A served app, as the suite sees it. */
export interface SuiteServer {
  /** `ws://host:port`; `undefined` for the in-process transport (the communicator is the socket). */
  readonly url: string | undefined;
  /** `http://host:port`: the origin a same-origin browser page would send. */
  readonly httpUrl: string;
  /** Closes the app's sockets (1001), then the server. Layers stay open. */
  close(): Promise<void>;
}

/** What a runtime can do; a case that needs what it lacks is skipped with the reason. */
export interface RuntimeCapabilities {
  /** Protocol-level pings on a real TCP connection (the heartbeat case). */
  readonly pings: boolean;
}

/** One runtime under test. */
export interface RuntimeUnderTest {
  /** Serves `app` on a free loopback port (or in-process). */
  start(app: App): Promise<SuiteServer>;
  /** The client WebSocket class for real sockets (default: the global one). */
  readonly WebSocket?: WebSocketConstructor;
  /** What the runtime can do. */
  readonly capabilities: RuntimeCapabilities;
  /**
   * App options of the heartbeat case: a fast `heartbeatSeconds`, which every runtime reads from
   * the app (one heartbeat policy, src/runtime/heartbeat.ts).
   */
  readonly heartbeatAppOptions?: AppOptions;
  /**
   * Registers one case (default `Deno.test`): a runtime whose tests do not run under Deno (Bun:
   * tests/runtime/bun_suite.mjs) brings its own runner.
   */
  readonly register?: (definition: SuiteCase) => void;
  /** A raw client that never answers pings (default: tests/helpers/raw_ws.ts, on Deno). */
  readonly rawWebSocket?: (
    port: number,
    path: string,
  ) => Promise<Pick<RawWebSocket, "status" | "closed" | "close">>;
}

/** One case of the suite, as {@linkcode RuntimeUnderTest.register} receives it. */
export interface SuiteCase {
  /** `<runtime>: <case>`, with the reason when it is skipped. */
  readonly name: string;
  /** True when the runtime lacks what the case needs. */
  readonly ignore: boolean;
  /** Deno's op sanitizer setting for the case. */
  readonly sanitizeOps: boolean;
  /** Runs the case. */
  fn(): Promise<void>;
}

const MISSING: Record<keyof RuntimeCapabilities, string> = {
  pings: "no protocol pings without a real socket",
};

// --- a served app and its clients ---

/** A served app with helpers to open clients on it. */
interface Served {
  readonly app: App;
  readonly server: SuiteServer;
  /** A communicator for `path`, not connected yet. */
  client(path: string, headers?: HeadersInit): WebsocketCommunicator;
  /** A connected communicator for `path` (throws if refused). */
  connect(path: string): Promise<WebsocketCommunicator>;
  /** Closes the server once (later calls wait for the first). */
  close(): Promise<void>;
}

async function serve(
  runtime: RuntimeUnderTest,
  appOptions: AppOptions,
): Promise<Served> {
  const app = makeApp(appOptions);
  const server = await runtime.start(app);
  const options = (headers?: HeadersInit) => ({
    ...(server.url ? { url: server.url, WebSocket: runtime.WebSocket } : {}),
    ...(headers ? { headers } : {}),
  });
  let closed: Promise<void> | undefined;
  return {
    app,
    server,
    client: (path, headers) => new WebsocketCommunicator(app, path, options(headers)),
    connect: (path) => WebsocketCommunicator.connect(app, path, options()),
    close: () => (closed ??= server.close()),
  };
}

/** Sends `frame` and expects exactly `replies` before the `complete` of that frame. */
async function roundTrip(comm: WebsocketCommunicator, frame: unknown, replies: unknown[]) {
  await comm.sendJson(frame);
  assert.deepEqual(await comm.receiveAllMessages(), replies);
}

/** The payload of the single error frame `comm` gets for `text`; ping still answers after it. */
async function errorFor(comm: WebsocketCommunicator, text: string) {
  await comm.sendText(text);
  const frames = await comm.receiveAllMessages();
  assert.equal(frames.length, 1, JSON.stringify(frames));
  assert.equal(frames[0].action, "error");
  await roundTrip(comm, Ping.create(), [Pong.create()]);
  return frames[0].payload as Array<{ type: string; loc: unknown[]; msg: string }>;
}

/** `promise`, or a failure naming `what` after `ms` (a wait that must end, bounded). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every frame `comm` gets until the server closes it. */
async function untilClosed(comm: WebsocketCommunicator) {
  const frames = await comm.receiveAllMessages({ stopAction: null, timeout: 5000 });
  assert.ok(comm.closeInfo, `not closed within 5 s; received ${JSON.stringify(frames)}`);
  return frames;
}

// --- the suite ---

/** Registers every case of the runtime suite for `runtime`, each test named `<name>: <case>`. */
export function runtimeSuite(name: string, runtime: RuntimeUnderTest): void {
  const test = (
    title: string,
    fn: (open: (o?: AppOptions) => Promise<Served>) => Promise<void>,
    options: { needs?: keyof RuntimeCapabilities; sanitizeOps?: boolean } = {},
  ) => {
    const lacking = options.needs && !runtime.capabilities[options.needs];
    const register = runtime.register ?? ((definition: SuiteCase) => Deno.test(definition));
    register({
      name: `${name}: ${title}${lacking ? ` [skipped: ${MISSING[options.needs!]}]` : ""}`,
      ignore: Boolean(lacking),
      sanitizeOps: options.sanitizeOps ?? true,
      async fn() {
        const opened: Served[] = [];
        try {
          await fn(async (o = {}) => {
            const served = await serve(runtime, o);
            opened.push(served);
            return served;
          });
        } finally {
          for (const s of opened) await s.close();
        }
      },
    });
  };

  test("system echo: ping → pong, say → said, in order", async (open) => {
    const s = await open();
    const comm = await s.connect("/echo");
    await roundTrip(comm, Ping.create(), [Pong.create()]);
    await roundTrip(comm, Say.create({ text: "hello" }), [Said.create({ text: "hello" })]);
    for (const text of ["a", "b", "c"]) await comm.sendMessage(Say.create({ text }));
    const replies = await comm.receiveAllMessages({
      stopAction: Array(3).fill(MESSAGE_ACTION_COMPLETE),
    });
    assert.deepEqual(replies, ["a", "b", "c"].map((text) => Said.create({ text })));
    await comm.disconnect();
    assert.equal(await probe.disconnect(1), 1000);
  });

  test("a burst: 300 frames sent back to back get every reply and completion, in order", async (open) => {
    // Several frames per read on the server: the Node adapter corks their replies into one
    // write; nothing may be lost, merged or reordered.
    const s = await open();
    const comm = await s.connect("/echo");
    const texts = Array.from({ length: 300 }, (_, i) => `m${i}`);
    await Promise.all(texts.map((text) => comm.sendMessage(Say.create({ text }))));
    const replies = await comm.receiveAllMessages({
      stopAction: Array(texts.length).fill(MESSAGE_ACTION_COMPLETE),
    });
    assert.deepEqual(replies, texts.map((text) => Said.create({ text })));
    await roundTrip(comm, Ping.create(), [Pong.create()]);
  });

  test("room chat: members of a room see each other's lines, another room sees none", async (open) => {
    const layer = new InMemoryChannelLayer();
    layers.register(ROOM_LAYER, layer);
    let served: Served | undefined;
    try {
      const s = (served = await open());
      const join = async (room: string) => {
        const comm = await s.connect(`/room/${room}`);
        assert.deepEqual(await comm.receiveAllMessages({ stopAction: "joined" }), [
          Joined.create({ room }),
        ]);
        return comm;
      };
      const [alice, bob, carol] = [await join("lobby"), await join("lobby"), await join("attic")];
      // The sender gets its own line and the `complete` of its frame, in either order.
      const say = async (from: WebsocketCommunicator, text: string) => {
        await from.sendMessage(Chat.create({ text }));
        return await from.receiveAllMessages({
          stopAction: [MESSAGE_ACTION_COMPLETE, GROUP_ACTION_COMPLETE],
        });
      };
      const line = (room: string, text: string) => [Chatted.create({ room, text })];
      const heard = (comm: WebsocketCommunicator) =>
        comm.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });

      assert.deepEqual(await say(alice, "hi bob"), line("lobby", "hi bob"));
      assert.deepEqual(await heard(bob), line("lobby", "hi bob"));
      assert.deepEqual(await say(bob, "hi alice"), line("lobby", "hi alice"));
      assert.deepEqual(await heard(alice), line("lobby", "hi alice"));
      // Had carol been sent the lobby's lines, they would have been queued before her own line.
      assert.deepEqual(await say(carol, "anyone?"), line("attic", "anyone?"));
      // And had the lobby been sent carol's line, it would come before this one.
      assert.deepEqual(await say(alice, "bye"), line("lobby", "bye"));
      assert.deepEqual(await heard(bob), line("lobby", "bye"));
      for (const c of [alice, bob, carol]) await c.disconnect();
    } finally {
      await served?.close(); // every onDisconnect has run (it leaves the room's group) …
      layers.unregister(ROOM_LAYER); // … before the layer closes
      await layer.close();
    }
  });

  test("error frames: invalid JSON, unknown action, invalid payload; the socket stays open", async (open) => {
    const s = await open();
    const comm = await s.connect("/echo");
    const [json] = await errorFor(comm, "{not json");
    assert.equal(json.type, "json_invalid");
    assert.match(json.msg, /^Invalid JSON: /);
    assert.deepEqual(await errorFor(comm, JSON.stringify({ action: "nope", payload: null })), [{
      type: "union_tag_invalid",
      loc: [],
      msg: "Input tag 'nope' found using 'action' does not match any of the expected tags: " +
        "'bye', 'ping', 'say'",
    }]);
    const invalid = await errorFor(comm, JSON.stringify({ action: "say", payload: { text: "" } }));
    assert.deepEqual(invalid.map((i) => [i.type, i.loc]), [["too_small", [
      "say",
      "payload",
      "text",
    ]]]);
    assert.equal(probe.disconnects.length, 0);
    await comm.disconnect();
  });

  test("close codes: a frame over maxFrameBytes closes with 1009", async (open) => {
    const s = await open({ maxFrameBytes: 1024 });
    const comm = await s.connect("/echo");
    await roundTrip(comm, Say.create({ text: "x".repeat(900) }), [
      Said.create({ text: "x".repeat(900) }),
    ]);
    await comm.sendMessage(Say.create({ text: "x".repeat(2000) }));
    assert.equal((await comm.waitForClose()).code, 1009);
    // onDisconnect runs with 1009 on every runtime (on Node, ws drops the socket after its own
    // 1009 close frame and says 1006; the adapter reports the code it sent).
    assert.equal(await probe.disconnect(1), 1009, `${probe.disconnects}`);
    assert.deepEqual(await comm.receiveAllMessages({ stopAction: null }), []);
  });

  test("close codes: past the rate limit, error frames, then 1008", async (open) => {
    const s = await open({ rateLimit: { perSecond: 1, burst: 1, maxViolations: 3 } });
    const comm = await s.connect("/echo");
    for (let i = 0; i < 10; i++) await comm.sendMessage(Ping.create());
    const frames = await untilClosed(comm);
    assert.deepEqual(comm.closeInfo, { code: 1008, reason: "Rate limit exceeded" });
    assert.deepEqual(frames[0], Pong.create(), "the admitted frame is answered");
    const refused = frames.filter((f) => f.action === "error");
    assert.ok(refused.length >= 1, JSON.stringify(frames));
    for (const f of refused) {
      assert.equal((f.payload as Array<{ type: string }>)[0].type, "rate_limited");
    }
  });

  test("close codes: the consumer's own code, idle timeout 1001, shutdown 1001", async (open) => {
    const s = await open();
    const bye = await s.connect("/echo");
    await bye.sendMessage(Bye.create({ code: 4321, reason: "see you" }));
    await untilClosed(bye);
    assert.deepEqual(bye.closeInfo, { code: 4321, reason: "see you" });
    assert.equal(await probe.disconnect(1), 4321);
    const i = await open({ idleTimeoutMs: 200 }); // a fresh probe
    const idle = await i.connect("/echo");
    assert.deepEqual(await idle.waitForClose(), { code: 1001, reason: "Idle timeout" });
    assert.equal(await probe.disconnect(1), 1001);
    const t = await open();
    const [a, b] = [await t.connect("/echo"), await t.connect("/echo")];
    await roundTrip(a, Ping.create(), [Pong.create()]);
    await t.close();
    for (const c of [a, b]) {
      assert.deepEqual(await c.waitForClose(), { code: 1001, reason: "Server shutting down" });
    }
    assert.equal(t.app.connectionCount, 0);
  });

  test(
    "heartbeat: a peer that stops answering pings is reaped, one that answers stays",
    async (open) => {
      const s = await open(runtime.heartbeatAppOptions);
      const live = await s.connect("/echo");
      const raw = runtime.rawWebSocket ?? rawWebSocket;
      const dead = await raw(Number(new URL(s.server.url!).port), "/echo");
      assert.equal(dead.status, 101);
      const { pings } = await within(dead.closed, 10_000, "the silent peer was not reaped");
      dead.close();
      assert.ok(pings >= 1, "the server pinged before it closed");
      await probe.disconnect(1);
      assert.equal(probe.disconnects.length, 1, "only the silent peer is gone");
      await roundTrip(live, Ping.create(), [Pong.create()]);
      assert.equal(s.app.connectionCount, 1);
      await live.disconnect();
    },
    { needs: "pings", sanitizeOps: false }, // Deno's own ping timer outlives the test's ops
  );

  test("origin check: cross-origin refused with 403 before authenticate, same-origin accepted", async (open) => {
    const s = await open();
    const foreign = await s.client("/echo", { origin: "https://evil.example" }).connect();
    assert.deepEqual([foreign.accepted, foreign.status], [false, 403]);
    assert.equal(probe.authenticated, 0, "the origin is checked before authenticate");
    assert.equal(s.app.connectionCount, 0);
    const same = s.client("/echo", { origin: s.server.httpUrl });
    assert.equal((await same.connect()).status, 101);
    await roundTrip(same, Ping.create(), [Pong.create()]);
    await same.disconnect();
  });

  test("auth refusal: false → 403, a Response → its status; no socket is opened", async (open) => {
    const s = await open();
    const refused = await s.client("/guarded?token=bad").connect();
    assert.deepEqual([refused.accepted, refused.status], [false, 403]);
    const expired = await s.client("/guarded?token=expired").connect();
    assert.deepEqual([expired.accepted, expired.status], [false, 401]);
    if (!s.server.url) assert.equal(expired.body, "token expired");
    assert.deepEqual([probe.authenticated, probe.connected, s.app.connectionCount], [2, 0, 0]);
    const good = await s.connect("/guarded?token=good");
    await roundTrip(good, Ping.create(), [Pong.create()]);
    assert.deepEqual([probe.connected, s.app.connectionCount], [1, 1]);
    await good.disconnect();
  });

  test("this.request after the upgrade: a handler reads its headers, query and URL", async (open) => {
    const s = await open();
    const comm = s.client("/guarded?token=good", { "x-team": "blue" });
    assert.equal((await comm.connect()).status, 101);
    for (let i = 0; i < 2; i++) {
      await roundTrip(comm, WhoAmI.create(), [
        Request_.create({ team: "blue", token: "good", path: "/guarded" }),
      ]);
    }
    await comm.disconnect();
  });
}
