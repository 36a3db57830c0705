/** The AsyncAPI generator: structure, order, names, schemas, options and errors. */
import assert from "node:assert/strict";
import { z } from "zod";
import {
  App,
  AsyncApiError,
  channel,
  Consumer,
  eventHandler,
  generateAsyncApi,
  inlineJson,
  message,
  type MessageOf,
  Ping,
  Pong,
  renderAsyncApiHtml,
  Topic,
  wsHandler,
} from "../../mod.ts";
import { asyncApiToYaml } from "../../adapters/asyncapi/mod.ts";
import { parse as parseYaml } from "yaml";

// ---- fixtures ---------------------------------------------------------------------------------

const Status = z.enum(["open", "closed"]).meta({ id: "TicketStatus", description: "State" });
const Ticket = z.object({ ticket_id: z.number().int(), status: Status.default("open") });
const Say = message("say", z.object({ text: z.string(), ticket: Ticket.optional() }), {
  description: "Client says something",
});
const Said = message("said", z.object({ text: z.string(), by: z.string().default("anon") }));
const Shared = z.object({ body: z.string() });
const Note = message("note", Shared);
const Memo = message("memo", Shared);
const Nudge = message("nudge");
type Tree = { name: string; children: Tree[] };
const TreeSchema: z.ZodType<Tree> = z.object({
  name: z.string(),
  get children() {
    return z.array(TreeSchema);
  },
});
const Grow = message("grow", TreeSchema);

@channel({ name: "chat", description: "Chat channel", tags: ["chat"] })
class ChatConsumer extends Consumer<MessageOf<typeof Nudge>> {
  static override passthroughEvents = [Memo];

  @wsHandler(Ping, { output: Pong, summary: "Ping" })
  handlePing(): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(Say, { output: [Said, Note], tags: ["talk"], description: "Say it" })
  handleSay(m: MessageOf<typeof Say>): MessageOf<typeof Said> {
    return Said.create({ text: m.payload.text });
  }

  @wsHandler(Grow)
  handleGrow(): void {}

  @eventHandler(Nudge, { output: Note })
  nudged(): MessageOf<typeof Note> {
    return Note.create({ body: "nudge" });
  }
}

class RoomLobbyConsumer extends Consumer {
  @wsHandler(Ping, { output: Pong })
  handlePing(): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(Say, { operationId: "sayInRoom" })
  handleSay(): void {}
}

class NewsTopic extends Topic {
  static override pattern = "news:{section}";
  static override passthroughEvents = [Note];
}

class HubConsumer extends Consumer {
  static override topics = [NewsTopic];
}

function fixtureApp(): App {
  return new App({ title: "Fixture", version: "2.0.0", description: "Fixture app" })
    .ws("/ws/chat", ChatConsumer)
    .ws("/ws/room/:roomName/:kind", RoomLobbyConsumer)
    .ws("/ws/hub", HubConsumer)
    .ws("/ws/news/:section", NewsTopic.asConsumer());
}

// ---- tests ------------------------------------------------------------------------------------

Deno.test("document structure and key order", () => {
  const doc = generateAsyncApi(fixtureApp());
  assert.deepEqual(Object.keys(doc), [
    "asyncapi",
    "info",
    "servers",
    "channels",
    "operations",
    "components",
  ]);
  assert.equal(doc.asyncapi, "3.0.0");
  assert.deepEqual(doc.info, { title: "Fixture", version: "2.0.0", description: "Fixture app" });
  assert.deepEqual(doc.servers, { development: { host: "localhost:8000", protocol: "ws" } });
  assert.deepEqual(Object.keys(doc.channels), [
    "chat",
    "room_lobby",
    "hub_news_topic",
    "news_topic",
  ]);
  assert.deepEqual(Object.keys(doc.operations), [
    "handle_grow",
    "handle_ping",
    "handle_say",
    "nudged",
    "handle_passthrough_memo",
    "room_lobby_handle_ping",
    "sayInRoom",
    "handle_passthrough_note",
    "news_topic_handle_passthrough_note",
  ]);
  assert.deepEqual(Object.keys(doc.components), ["messages", "schemas"]);
  const messages = Object.keys(doc.components.messages);
  assert.deepEqual(messages, [...messages].sort());
  const schemas = Object.keys(doc.components.schemas);
  assert.deepEqual(schemas, [...schemas].sort());
});

Deno.test("channels: address with {params}, parameters, messages sorted, tags, topics", () => {
  const doc = generateAsyncApi(fixtureApp());
  assert.deepEqual(doc.channels.chat, {
    address: "/ws/chat",
    title: "chat",
    description: "Chat channel",
    messages: Object.fromEntries(
      [
        "grow_message",
        "memo_message",
        "note_message",
        "ping_message",
        "pong_message",
        "said_message",
        "say_message",
      ].map((k) => [k, { $ref: `#/components/messages/${k}` }]),
    ),
    tags: [{ name: "chat" }],
  });
  const room = doc.channels.room_lobby;
  assert.equal(room.address, "/ws/room/{roomName}/{kind}");
  assert.deepEqual(room.parameters, {
    roomName: { description: "Path parameter roomName" },
    kind: { description: "Path parameter kind" },
  });
  assert.equal(room.description, undefined);
  assert.equal("tags" in room, false);
  // A host without handlers is left out; its topic gets <host>_<topic>.
  assert.equal(doc.channels.hub, undefined);
  assert.deepEqual(doc.channels.hub_news_topic["x-topic"], {
    name: "news_topic",
    pattern: "news:{section}",
    parameters: ["section"],
  });
  assert.equal(doc.channels.hub_news_topic.address, "/ws/hub");
  assert.equal(doc.channels.news_topic.address, "/ws/news/{section}");
});

Deno.test("operations: receive with reply, send for events and passthroughs", () => {
  const doc = generateAsyncApi(fixtureApp());
  const ch = { $ref: "#/channels/chat" };
  const m = (k: string) => ({ $ref: `#/channels/chat/messages/${k}` });
  assert.deepEqual(doc.operations.handle_say, {
    action: "receive",
    channel: ch,
    description: "Say it",
    tags: [{ name: "talk" }],
    messages: [m("say_message")],
    reply: { channel: ch, messages: [m("said_message"), m("note_message")] },
  });
  assert.deepEqual(doc.operations.handle_grow, {
    action: "receive",
    channel: ch,
    messages: [m("grow_message")],
  });
  assert.deepEqual(doc.operations.nudged, {
    action: "send",
    channel: ch,
    messages: [m("note_message")],
  });
  assert.deepEqual(doc.operations.handle_passthrough_memo, {
    action: "send",
    channel: ch,
    description: "Passthrough handler for MemoMessage",
    messages: [m("memo_message")],
  });
  // Event inputs are not documented.
  assert.equal(doc.components.messages.nudge_message, undefined);
});

Deno.test("components: frame schemas, $defs hoisted, shared payloads, recursion", () => {
  const doc = generateAsyncApi(fixtureApp());
  const { messages, schemas } = doc.components;
  assert.deepEqual(messages.say_message, {
    name: "say",
    title: "SayMessage",
    description: "Client says something",
    contentType: "application/json",
    payload: { $ref: "#/components/schemas/SayMessage" },
  });
  assert.deepEqual(schemas.PingMessage, {
    type: "object",
    properties: { action: { type: "string", const: "ping" }, payload: { type: "null" } },
    required: ["action"],
  });
  const say = schemas.SayMessage as { properties: { payload: Record<string, unknown> } };
  const ticket = (say.properties.payload.properties as Record<string, Record<string, unknown>>)
    .ticket;
  assert.deepEqual((ticket.properties as Record<string, unknown>).status, {
    allOf: [{ $ref: "#/components/schemas/TicketStatus" }],
    default: "open",
  });
  assert.deepEqual(schemas.TicketStatus, {
    type: "string",
    enum: ["open", "closed"],
    description: "State",
  });
  assert.equal("$schema" in say.properties.payload, false);
  // Input side for client messages (defaults optional), output side for server messages.
  const said = schemas.SaidMessage as { properties: { payload: { required: string[] } } };
  assert.deepEqual(said.properties.payload.required, ["text", "by"]);
  // Note and Memo (both server-sent) share one payload schema object: hoisted once.
  const note = schemas.NoteMessage as { properties: { payload: unknown } };
  const memo = schemas.MemoMessage as { properties: { payload: unknown } };
  assert.deepEqual(note.properties.payload, { $ref: "#/components/schemas/MemoPayload" });
  assert.deepEqual(memo.properties.payload, { $ref: "#/components/schemas/MemoPayload" });
  // A recursive payload is hoisted so that its self reference has a target.
  const grow = schemas.GrowMessage as { properties: { payload: unknown } };
  assert.deepEqual(grow.properties.payload, { $ref: "#/components/schemas/GrowPayload" });
  assert.match(
    JSON.stringify(schemas.GrowPayload),
    /"\$ref":"#\/components\/schemas\/GrowPayload"/,
  );
  // Every $ref resolves.
  const text = JSON.stringify(doc);
  for (const [, ref] of text.matchAll(/"\$ref":"#\/([^"]+)"/g)) {
    let node: unknown = doc;
    for (const seg of ref.split("/")) node = (node as Record<string, unknown>)?.[seg];
    assert.ok(node !== undefined, `unresolved $ref #/${ref}`);
  }
});

Deno.test("deterministic: two generations are byte-identical", () => {
  const a = JSON.stringify(generateAsyncApi(fixtureApp()));
  const b = JSON.stringify(generateAsyncApi(fixtureApp()));
  assert.equal(a, b);
});

Deno.test("options: title, version, description, servers by host and scheme", () => {
  const app = fixtureApp();
  const doc = generateAsyncApi(app, {
    title: "T",
    version: "9",
    description: "D",
    serverUrl: "api.example.com",
  });
  assert.deepEqual(doc.info, { title: "T", version: "9", description: "D" });
  assert.deepEqual(doc.servers, { production: { host: "api.example.com", protocol: "ws" } });
  assert.deepEqual(generateAsyncApi(app, { serverUrl: "wss://api.example.com/base/" }).servers, {
    production: { host: "api.example.com", protocol: "wss", pathname: "/base" },
  });
  assert.deepEqual(generateAsyncApi(app, { serverUrl: "https://x.io" }).servers, {
    production: { host: "x.io", protocol: "wss" },
  });
  for (const host of ["127.0.0.1:9000", "0.0.0.0", "[::1]:80", "LOCALHOST"]) {
    assert.deepEqual(
      Object.keys(generateAsyncApi(app, { serverUrl: host, serverProtocol: "wss" }).servers),
      ["development"],
    );
  }
  const bare = generateAsyncApi(new App().ws("/ws/chat", ChatConsumer));
  assert.deepEqual(bare.info, { title: "AsyncAPI Documentation", version: "1.0.0" });
});

Deno.test("camelCase: channel names, keys, operation ids and payload properties", () => {
  const doc = generateAsyncApi(fixtureApp(), { camelCase: true });
  assert.deepEqual(Object.keys(doc.channels), ["chat", "roomLobby", "hubNewsTopic", "newsTopic"]);
  assert.ok(doc.operations.handleGrow);
  assert.ok(doc.operations.roomLobbyHandlePing);
  assert.ok(doc.operations.handlePassthroughMemo);
  assert.ok(doc.components.messages.sayMessage);
  assert.deepEqual(
    (doc.channels.chat.messages as Record<string, unknown>).pingMessage,
    { $ref: "#/components/messages/pingMessage" },
  );
  const say = JSON.stringify(doc.components.schemas.SayMessage);
  assert.match(say, /"ticketId"/);
  assert.doesNotMatch(say, /ticket_id/);
  // Default: on when every consumer is in camelCase wire mode.
  class Camel extends ChatConsumer {
    static override camelCase = true;
  }
  const auto = generateAsyncApi(new App().ws("/ws/c", Camel));
  assert.ok(auto.components.messages.sayMessage);
});

Deno.test("name clashes: same title, different schema; same channel twice", () => {
  const OtherSay = message("say", z.object({ words: z.array(z.string()) }));
  class Other extends Consumer {
    @wsHandler(OtherSay)
    handleSay(): void {}
  }
  const app = new App().ws("/ws/chat", ChatConsumer).ws("/ws/other", Other).ws("/ws/c2", Other);
  const doc = generateAsyncApi(app);
  assert.deepEqual(Object.keys(doc.channels), ["chat", "other", "other_2"]);
  assert.ok(doc.components.schemas.OtherSayMessage);
  assert.deepEqual(doc.components.messages.other_say_message.payload, {
    $ref: "#/components/schemas/OtherSayMessage",
  });
  assert.deepEqual((doc.channels.other.messages as Record<string, unknown>).other_say_message, {
    $ref: "#/components/messages/other_say_message",
  });
  assert.ok(doc.operations.other_handle_say);
  assert.ok(doc.operations.other_2_handle_say);
});

Deno.test("a payload schema without JSON Schema support is a clear AsyncApiError", () => {
  const opaque = {
    "~standard": { version: 1, vendor: "handmade", validate: (v: unknown) => ({ value: v }) },
  } as const;
  const Odd = message("odd", opaque);
  class OddConsumer extends Consumer {
    @wsHandler(Odd)
    handleOdd(): void {}
  }
  assert.throws(
    () => generateAsyncApi(new App().ws("/ws/odd", OddConsumer)),
    (e) =>
      e instanceof AsyncApiError && /message 'odd' \(OddMessage\)/.test(e.message) &&
      /handmade/.test(e.message),
  );
  // Types JSON Schema cannot express become {} instead of failing.
  const When = message("when", z.object({ at: z.date() }));
  class WhenConsumer extends Consumer {
    @wsHandler(When)
    handleWhen(): void {}
  }
  const doc = generateAsyncApi(new App().ws("/ws/when", WhenConsumer));
  const when = doc.components.schemas.WhenMessage as {
    properties: { payload: { properties: { at: unknown } } };
  };
  assert.deepEqual(when.properties.payload.properties.at, {});
});

Deno.test("YAML: the same document, block style", () => {
  const doc = generateAsyncApi(fixtureApp());
  const yaml = asyncApiToYaml(doc);
  assert.match(yaml, /^asyncapi: 3\.0\.0\ninfo:\n {2}title: Fixture\n/);
  assert.doesNotMatch(yaml, /&a\d|\*a\d/); // no anchors or aliases
  assert.deepEqual(parseYaml(yaml), JSON.parse(JSON.stringify(doc)));
});

Deno.test("HTML: inlined JSON cannot break out of the script", () => {
  const nasty = "</script><script>alert(1)</script> & \u2028\u2029 <!--";
  const html = renderAsyncApiHtml({ info: { title: nasty } });
  assert.equal(html.match(/<\/script>/g)?.length, 2); // the two real closing tags
  const script = html.slice(html.indexOf("AsyncApiStandalone"));
  assert.doesNotMatch(script, /<!--/);
  assert.doesNotMatch(script, /[\u2028\u2029]/);
  assert.match(html, /<title>&lt;\/script&gt;/);
  assert.equal(inlineJson("<>&\u2028\u2029"), '"\\u003c\\u003e\\u0026\\u2028\\u2029"');
  assert.deepEqual(JSON.parse(inlineJson({ a: nasty })), { a: nasty });
  assert.match(html, /AsyncApiStandalone\.render/);
  assert.match(
    html,
    /src="https:\/\/unpkg\.com\/@asyncapi\/react-component@3\.2\.1\/browser\/standalone\/index\.js"/,
  );
  assert.match(
    renderAsyncApiHtml({}, { assetsBaseUrl: "/docs/" }),
    /href="\/docs\/styles\/default\.min\.css"/,
  );
});
