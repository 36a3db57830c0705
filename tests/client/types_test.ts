/**
 * Compile-time tests of the typed client: wrong messages are type errors (`@ts-expect-error`
 * fails the check when the line compiles). The runtime part only asserts the calls are wired.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import {
  Consumer,
  eventHandler,
  message,
  type MessageOf,
  Ping,
  Pong,
  Topic,
  wsHandler,
} from "../../mod.ts";
import {
  type AnyApi,
  type ApiOf,
  clientApi,
  type ClientMessageOf,
  createClient,
  type ReplyOf,
  type ServerMessageOf,
} from "../../client/mod.ts";
import type { RoomChatConsumer } from "../../examples/tutorial/room_chat/consumer.ts";
import type { TopicHubConsumer } from "../../examples/tutorial/topics/consumer.ts";

const Say = message("say", z.object({ text: z.string(), loud: z.boolean().default(false) }));
const Said = message("said", z.object({ text: z.string() }));
const Shout = message("shout", z.object({ text: z.string() }));
const Nudge = message("nudge", z.object({ who: z.string() }));

/** Inferred: no api declaration. Events declared, so `nudge` is not client-sendable. */
class Inferred extends Consumer<MessageOf<typeof Nudge>> {
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
  @wsHandler(Say, { output: Said })
  async handleSay(m: MessageOf<typeof Say>): Promise<MessageOf<typeof Said>> {
    return await Promise.resolve(Said.create({ text: m.payload.text }));
  }
  @eventHandler(Nudge, { output: Shout })
  handleNudge(m: MessageOf<typeof Nudge>): MessageOf<typeof Shout> {
    return Shout.create({ text: m.payload.who });
  }
}

/**
 * Declared sends; the broadcast comes from `static broadcasts`, the reply from the return type:
 * nothing is listed twice (no `receive` list repeating the outputs).
 */
class Declared extends Consumer {
  static readonly api = clientApi({ send: [Ping, Say] });
  static override broadcasts = [Shout];
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
  @wsHandler(Say, { output: [Said, Shout] })
  async handleSay(m: MessageOf<typeof Say>): Promise<MessageOf<typeof Said>> {
    await this.broadcastMessage(Shout.create({ text: m.payload.text }));
    return Said.create({ text: m.payload.text });
  }
}

/** No api at all: sends and replies from the handlers, the broadcast from `static broadcasts`. */
class Broadcaster extends Consumer {
  static override broadcasts = [Shout];
  @wsHandler(Say, { output: Shout })
  async handleSay(m: MessageOf<typeof Say>): Promise<void> {
    await this.broadcastMessage(Shout.create({ text: m.payload.text }));
  }
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
}

class Room extends Topic<MessageOf<typeof Said>> {
  static override pattern = "room:{name}";
  static override passthroughEvents = [Said];
  @wsHandler(Say, { output: Said })
  handleSay(m: MessageOf<typeof Say>): MessageOf<typeof Said> {
    return Said.create({ text: m.payload.text });
  }
}
class Hub extends Consumer {
  static override topics = [Room];
}

type Is<A, B> = [A] extends [B] ? [B] extends [A] ? true : false : false;
const yes = <T extends true>(): T => true as T;

// What is inferred, exactly.
yes<Is<ClientMessageOf<typeof Inferred>["action"], "ping" | "say">>();
yes<Is<ServerMessageOf<typeof Inferred>["action"], "pong" | "said" | "shout">>();
yes<Is<ClientMessageOf<typeof Declared>["action"], "ping" | "say">>();
yes<Is<ServerMessageOf<typeof Declared>["action"], "pong" | "said" | "shout">>();
yes<Is<ClientMessageOf<typeof Broadcaster>["action"], "ping" | "say">>();
yes<Is<ServerMessageOf<typeof Broadcaster>["action"], "pong" | "shout">>();
// request(): the reply type of that action's handler, not the union of everything received.
type Protocol = "error" | "complete" | "group_complete" | "event_complete";
type ReplyAction<S, A> = ReplyOf<ApiOf<S>, A>["action"] | Protocol;
yes<Is<ReplyAction<typeof Inferred, "ping">, "pong" | Protocol>>();
yes<Is<ReplyAction<typeof Inferred, "say">, "said" | Protocol>>();
yes<Is<ReplyAction<typeof Declared, "say">, "said" | Protocol>>();
yes<Is<ReplyAction<typeof Broadcaster, "say">, Protocol>>(); // replies nothing: complete or error
yes<Is<ApiOf<typeof Hub>["topicReplies"]["say"]["action"], "said">>();
// Generated / hand-written ApiTypes without `replies`: any received message.
interface Plain {
  send: { action: "a"; payload: null };
  receive: { action: "b"; payload: null } | { action: "c"; payload: null };
  topicSend: never;
  topicReceive: never;
}
yes<Is<ReplyOf<Plain, "a">["action"], "b" | "c">>();
yes<Is<ReplyOf<AnyApi, "x">, AnyApi["receive"]>>();
yes<Is<ApiOf<typeof Hub>["topicSend"]["action"], "say">>();
yes<Is<ApiOf<typeof Hub>["topicReceive"]["action"], "said">>();
yes<Is<ClientMessageOf<typeof RoomChatConsumer>["action"], "ping" | "room_chat">>();
// docs/client.md's example: the room's broadcasts reach the client's types.
yes<Is<ServerMessageOf<typeof RoomChatConsumer>["action"], "pong" | "room_notification">>();
yes<Is<ApiOf<typeof TopicHubConsumer>["topicSend"]["action"], "post" | "echo">>();
yes<
  Is<
    ApiOf<typeof TopicHubConsumer>["topicReceive"]["action"],
    "posted" | "room_event" | "presence_changed"
  >
>();

async function compileOnly(): Promise<void> {
  const inferred = createClient<typeof Inferred>("ws://x/ws");
  inferred.send({ action: "ping" });
  inferred.send({ action: "say", payload: { text: "hi", loud: true } });
  // Inferred sends use the schema's input type (carried by MessageOf): defaults are optional.
  inferred.send({ action: "say", payload: { text: "hi" } });
  // @ts-expect-error text has no default: it is required
  inferred.send({ action: "say", payload: { loud: true } });
  // @ts-expect-error an event is not a client message
  inferred.send({ action: "nudge", payload: { who: "x" } });
  // @ts-expect-error unknown action
  inferred.send({ action: "sya", payload: { text: "hi" } });
  // @ts-expect-error wrong payload type
  inferred.send({ action: "say", payload: { text: 1, loud: true } });
  inferred.on("said", (m) => {
    const t: string = m.payload.text;
    void t;
  });
  inferred.on("error", (m) => void m.payload);
  // @ts-expect-error the server never sends 'say'
  inferred.on("say", () => {});
  inferred.on("shout", (m) => {
    // @ts-expect-error shout has no 'who'
    void m.payload.who;
  });

  const plain = createClient<Plain>("ws://x/ws");
  const b = await plain.request({ action: "a", payload: null });
  const bc: "b" | "c" | Protocol = b.action;
  void bc;

  const pong = await inferred.request({ action: "ping" });
  // @ts-expect-error a ping is answered with pong (or a protocol frame), never with said
  if (pong.action === "said") void pong;
  const said = await inferred.request({ action: "say", payload: { text: "hi" } });
  if (said.action === "said") {
    const text: string = said.payload.text;
    void text;
  }
  // @ts-expect-error request() keeps the excess-property check of send()
  void inferred.request({ action: "say", payload: { text: "hi", volume: 3 } });
  // @ts-expect-error unknown action
  void inferred.request({ action: "sya" });

  const broadcaster = createClient<typeof Broadcaster>("ws://x/ws");
  broadcaster.on("shout", (m) => {
    const text: string = m.payload.text;
    void text;
  });
  // @ts-expect-error Broadcaster never sends said
  broadcaster.on("said", () => {});

  const declared = createClient<typeof Declared>("ws://x/ws");
  declared.send({ action: "say", payload: { text: "hi" } }); // input type: loud has a default
  // @ts-expect-error extra field
  declared.send({ action: "say", payload: { text: "hi", volume: 3 } });
  // @ts-expect-error ping has no payload
  declared.send({ action: "ping", payload: { x: 1 } });
  declared.on("shout", (m) => void m.payload.text);

  const hub = createClient<typeof Hub>("ws://x/ws");
  const room = hub.topic("room:lobby");
  room.send({ action: "say", payload: { text: "hi", loud: false } });
  // @ts-expect-error the topic takes no 'ping'
  room.send({ action: "ping" });
  room.on("said", (m) => void m.payload.text);
  const posted = await room.request({ action: "say", payload: { text: "hi" } });
  // @ts-expect-error the topic's say handler replies said
  if (posted.action === "pong") void posted;
  room.on("subscribed", (m) => void m.topic);

  const untyped = createClient("ws://x/ws");
  untyped.send({ action: "anything", payload: 1 });
  untyped.on("whatever", (m) => void m.payload);
}

Deno.test("typed client: the compile-time checks above are part of `deno check`", () => {
  assert.equal(typeof compileOnly, "function");
  assert.deepEqual(Declared.api.send.map((t) => t.action), ["ping", "say"]);
  assert.deepEqual(Object.keys(Declared.api), ["send"]);
  assert.deepEqual(Declared.broadcasts.map((t) => t.action), ["shout"]);
});

Deno.test("clientApi: the old `receive` list is refused with the way to say it now", () => {
  assert.throws(
    // @ts-expect-error `receive` is not part of clientApi any more
    () => clientApi({ send: [Ping], receive: [Pong] }),
    (e: unknown) => e instanceof TypeError && /static broadcasts/.test(e.message),
  );
});
