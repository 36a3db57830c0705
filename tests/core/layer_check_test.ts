/**
 * A consumer naming a layer alias nothing is registered under: found before any socket opens
 * (`app.check()`, the in-process communicator, the first request's log, a 500 upgrade), never a
 * socket that opens and closes with 1011. Layers registered after mounting, before serving, work.
 */
import {
  App,
  assert,
  Consumer,
  InMemoryChannelLayerForTests,
  LayerNotFoundError,
  layers,
  memoryLogger,
  Ping,
  Pong,
  serveForTests,
  setLogger,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";
import type { MessageOf } from "./deps.ts";

const ALIAS = "layer-check-tests";

class LateConsumer extends Consumer {
  static override layer = ALIAS;
  static override sendCompletion = true;
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>) {
    return Pong.create();
  }
}

const app = new App().ws("/ws/late", LateConsumer).ws(
  "/ws/fine",
  class Fine extends Consumer {
    static override layer: null = null;
  },
);

const EXPECTED = new RegExp(
  `^LateConsumer \\(app\\.ws\\('/ws/late'\\)\\) uses channel layer '${ALIAS}'\\. ` +
    `No channel layer is registered under '${ALIAS}' \\(registered: .*'default'.*\\)\\. ` +
    `Call layers\\.register\\('${ALIAS}', layer\\) at startup\\.$`,
);

Deno.test("app.check() names the route, the alias and the registered ones", () => {
  layers.unregister(ALIAS);
  assert.equal(app.problems().length, 1);
  assert.throws(() => app.check(), (e: Error) => {
    assert.ok(e instanceof LayerNotFoundError);
    assert.match(e.message, EXPECTED);
    return true;
  });
  assert.doesNotThrow(() => app.check("/ws/fine")); // only the route of that path
});

Deno.test("in-process: connect throws the clear error instead of opening and closing with 1011", async () => {
  layers.unregister(ALIAS);
  // Before: connected, then the socket closed with 1011 "Server error while connecting".
  await assert.rejects(() => WebsocketCommunicator.connect(app, "/ws/late"), (e: Error) => {
    assert.ok(e instanceof LayerNotFoundError);
    assert.match(e.message, EXPECTED);
    return true;
  });
});

Deno.test("over a socket: the upgrade is refused with 500 and the first request logs the mistake", async () => {
  layers.unregister(ALIAS);
  const fresh = new App().ws("/ws/late", LateConsumer);
  const logger = memoryLogger();
  const previous = setLogger(logger);
  try {
    await using server = await serveForTests(fresh);
    const comm = new WebsocketCommunicator(fresh, "/ws/late", { url: server.url });
    const result = await comm.connect();
    // Before: accepted (101), then closed with 1011.
    assert.equal(result.accepted, false);
    assert.equal(result.status, 500);
    await comm.disconnect();
  } finally {
    setLogger(previous);
  }
  const errors = logger.lines.filter((l) => l.level === "error").map((l) => l.message);
  assert.equal(errors.length, 2, JSON.stringify(errors));
  assert.match(errors[0].replace(/^Misconfigured app: /, ""), EXPECTED);
  assert.match(errors[1].replace(/^Refused an upgrade: /, ""), EXPECTED);
  assert.equal(fresh.connectionCount, 0);
});

Deno.test("a layer registered after mounting, before the first connection, is fine", async () => {
  layers.unregister(ALIAS);
  const later = new App().ws("/ws/late", LateConsumer); // mounting does not require the layer yet
  layers.register(ALIAS, new InMemoryChannelLayerForTests());
  try {
    later.check();
    await using comm = await WebsocketCommunicator.connect(later, "/ws/late");
    await comm.sendMessage(Ping.create());
    assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
  } finally {
    await layers.unregister(ALIAS)?.close();
  }
});
