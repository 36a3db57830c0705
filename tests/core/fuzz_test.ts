/**
 * Fuzzing the tutorial consumers: random and mutated frames must never crash anything, each
 * surely-bad frame gets exactly one error frame, the connection still answers ping afterwards, and
 * no prototype gets polluted. Seeded: FUZZ_SEED=<n> replays a run; FUZZ_FRAMES sets the count.
 */
import "../../examples/tutorial/tests/test_env.ts";
import { app } from "../../examples/tutorial/app.ts";
import { apiToken } from "../../examples/tutorial/settings.ts";
import { assert, handlerTable, Ping, setLogger, WebsocketCommunicator } from "./deps.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const FRAMES = Number(Deno.env.get("FUZZ_FRAMES") ?? 20_000);

function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
const int = (n: number) => Math.floor(random() * n);

const NASTY_KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "",
  "a.b",
];
const NASTY_STRINGS = [
  "",
  "\uD800",
  "\uDFFF\uD800",
  "\u0000",
  "😀".repeat(50),
  "<script>",
  "x".repeat(5000),
];
const NASTY_NUMBERS = [0, -0, 1e308, -1e308, 2 ** 53 + 1, 1.5, -1, Number.MAX_SAFE_INTEGER];

function value(depth: number): unknown {
  switch (depth > 4 ? int(4) : int(7)) {
    case 0:
      return pick(NASTY_STRINGS);
    case 1:
      return pick(NASTY_NUMBERS);
    case 2:
      return pick([true, false, null]);
    case 3:
      return String.fromCharCode(...Array.from({ length: int(20) }, () => int(0xffff)));
    case 4:
      return Array.from({ length: int(4) }, () => value(depth + 1));
    case 5:
    case 6: {
      const o: Record<string, unknown> = {};
      for (let i = int(4); i > 0; i--) {
        Object.defineProperty(o, random() < 0.3 ? pick(NASTY_KEYS) : `k${int(5)}`, {
          value: value(depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return o;
    }
  }
}

const deep = (n: number) => "[".repeat(n) + "]".repeat(n);

/** A frame and whether it is surely invalid (must get exactly one error frame). */
function frame(actions: string[]): { text: string; bad: boolean } {
  const action = pick(actions);
  switch (int(12)) {
    case 0:
      return { text: pick(["{", "}", "nul", "[1,", '{"action":', "\u0000", "{'a':1}"]), bad: true };
    case 1:
      return { text: JSON.stringify(pick([[], [1, 2], "s", 5, null, true])), bad: true };
    case 2:
      return { text: JSON.stringify({ payload: value(0) }), bad: true };
    case 3:
      return {
        text: JSON.stringify({ action: `no_such_${int(100)}`, payload: value(0) }),
        bad: true,
      };
    case 4:
      return {
        text: JSON.stringify({ action: pick([5, true, [], {}]), payload: null }),
        bad: true,
      };
    case 5:
      return { text: `{"action":"${action}","payload":${deep(1 + int(3000))}}`, bad: false };
    case 6:
      return { text: `{"action":"${action}","payload":1e999999}`, bad: false };
    case 7:
      return {
        text:
          `{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"action":"${action}"}`,
        bad: false,
      };
    case 8:
      return {
        text: JSON.stringify({ action, payload: value(0), topic: pick([1, [], {}]) }),
        bad: true,
      };
    default: {
      const f: Record<string, unknown> = { action, payload: value(0) };
      if (random() < 0.2) f.ref = pick(["1", "", "x".repeat(200)]);
      if (random() < 0.1) f.topic = pick(["room:fuzz", "presence:x", "nope:1", ""]);
      return { text: JSON.stringify(f), bad: false };
    }
  }
}

/** A route's path with its params filled (and the inspector's token: its socket is fuzzed too). */
function routePath(route: { path: string; consumer: { name: string } }): string {
  const path = route.path.replace(/:(\w+)/g, "fuzz");
  return route.consumer.name === "InspectorConsumer" ? `${path}?token=${apiToken().token}` : path;
}

Deno.test({
  name: `fuzz: ${FRAMES} frames against every tutorial route (FUZZ_SEED=${SEED})`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const protoBefore = Object.getOwnPropertyNames(Object.prototype).join();
    let unhandled: unknown;
    const onUnhandled = (e: PromiseRejectionEvent) => {
      unhandled ??= e.reason;
      e.preventDefault();
    };
    globalThis.addEventListener("unhandledrejection", onUnhandled);
    const quiet = () => {};
    const previousLogger = setLogger({ debug: quiet, info: quiet, warn: quiet, error: quiet });
    try {
      const routes = app.routes;
      const perRoute = Math.ceil(FRAMES / routes.length);
      let sent = 0;
      let errors = 0;
      for (const route of routes) {
        const path = routePath(route);
        const table = handlerTable(route.consumer);
        const actions = [...table.ws.keys(), "subscribe", "unsubscribe"];
        const comm = await WebsocketCommunicator.connect(app, path, { consumer: route.consumer });
        if (!route.consumer.sendCompletion) {
          await comm.disconnect();
          continue; // without completion frames there is no end of reply to wait for
        }
        for (let i = 0; i < perRoute; i++) {
          const f = frame(actions);
          await comm.sendText(f.text);
          const replies = await comm.receiveAllMessages({ timeout: 10_000 });
          const errorFrames = replies.filter((r) => r.action === "error").length;
          errors += errorFrames;
          sent++;
          if (f.bad) {
            assert.equal(errorFrames, 1, `seed ${SEED}, ${path}, frame ${f.text.slice(0, 200)}`);
          } else {
            assert.ok(
              errorFrames <= 1,
              `seed ${SEED}, ${path}: ${errorFrames} errors for one frame`,
            );
          }
          assert.equal(
            comm.closeInfo,
            undefined,
            `seed ${SEED}: ${path} closed by ${f.text.slice(0, 200)}`,
          );
        }
        // Still alive and well.
        if (table.ws.has("ping")) {
          await comm.sendMessage(Ping.create());
          const pong = await comm.receiveAllMessages();
          assert.ok(pong.some((m) => m.action === "pong"), `${path} answers ping after the fuzz`);
        }
        await comm.disconnect();
      }
      console.log(`fuzz: ${sent} frames over ${routes.length} routes, ${errors} error frames`);
      assert.ok(sent >= FRAMES * 0.5, `only ${sent} frames were sent`);
      assert.ok(errors > 0);
      assert.equal(unhandled, undefined, `unhandled rejection: ${unhandled}`);
      assert.equal(Object.getOwnPropertyNames(Object.prototype).join(), protoBefore);
      // deno-lint-ignore no-explicit-any
      assert.equal(({} as any).polluted, undefined);
      assert.equal(Object.prototype.toString.call([]), "[object Array]");
    } finally {
      setLogger(previousLogger);
      globalThis.removeEventListener("unhandledrejection", onUnhandled);
    }
  },
});

Deno.test("fuzz: oversized frames close with 1009 and the app keeps serving", async () => {
  for (const route of app.routes) {
    const path = routePath(route);
    const comm = await WebsocketCommunicator.connect(app, path, { consumer: route.consumer });
    await comm.sendText(JSON.stringify({ action: "ping", payload: "x".repeat(2 * 1024 * 1024) }));
    assert.equal((await comm.waitForClose()).code, 1009, path);
    await comm.disconnect();
  }
  await using after = await WebsocketCommunicator.connect(app, "/ws/system");
  await after.sendMessage(Ping.create());
  assert.ok((await after.receiveAllMessages({ stopAction: "pong" })).length >= 1);
});
