import {
  App,
  assert,
  Consumer,
  DefinitionError,
  InMemoryChannelLayerForTests,
  layers,
  serveForTests,
  Topic,
  WebsocketCommunicator,
} from "./deps.ts";
import { topicsSuite } from "./topics_suite.ts";

topicsSuite("memory", () => new InMemoryChannelLayerForTests());

Deno.test("mounting: a topic on another layer than its host, or a standalone route without its params", () => {
  class T extends Topic {
    static override pattern = "t:{id}";
    static override layer = "elsewhere";
  }
  class Host extends Consumer {
    static override layer = "here";
    static override topics = [T];
  }
  assert.throws(
    () => new App().ws("/h", Host),
    (e: Error) =>
      e instanceof DefinitionError &&
      /T broadcasts on layer 'elsewhere' but Host subscribes on 'here'/.test(e.message),
  );
  assert.throws(
    () => new App().ws("/t", T.asConsumer()),
    /default topic pattern 't:\{id\}' needs URL parameters \["id"\]/,
  );
  assert.throws(() =>
    new App().ws(
      "/t",
      class extends Consumer {
        static override topics = [class extends Topic {}];
      },
    ), /has no static pattern/);
});

Deno.test("standalone route: a param that does not round-trip through the pattern (':') is refused 404", async () => {
  layers.register("standalone-params", () => new InMemoryChannelLayerForTests());
  class RoomT extends Topic {
    static override pattern = "room:{roomName}";
    static override layer = "standalone-params";
  }
  const app = new App().ws("/t/room/:roomName", RoomT.asConsumer());
  try {
    // In-process.
    const refused = await new WebsocketCommunicator(app, "/t/room/a%3Ab").connect();
    assert.equal(refused.accepted, false);
    assert.equal(refused.status, 404);
    assert.match(refused.body!, /No topic 'room:\{roomName\}' for roomName "a:b".*':'/);
    const long = await new WebsocketCommunicator(app, `/t/room/${"x:".repeat(20_000)}`).connect();
    assert.equal(long.status, 404);
    assert.ok(long.body!.length < 500, `bounded body (${long.body!.length} chars)`);
    // A good param still works.
    await using ok = await WebsocketCommunicator.connect(app, "/t/room/lobby");
    assert.deepEqual(await ok.receiveJson(), {
      action: "subscribed",
      payload: null,
      version: 1,
      topic: "room:lobby",
    });
    // Over a real socket.
    await using server = await serveForTests(app);
    const response = await fetch(`${server.httpUrl}/t/room/a%3Ab`, {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      },
    });
    assert.equal(response.status, 404);
    assert.match(await response.text(), /must not contain the pattern's separators/);
    const socket = await new WebsocketCommunicator(app, "/t/room/a%3Ab", { url: server.url })
      .connect();
    assert.equal(socket.accepted, false);
  } finally {
    await app.close({ closeLayers: false });
    await layers.unregister("standalone-params")?.close();
  }
});
