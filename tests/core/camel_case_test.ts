/**
 * camelCase wire mode (`static camelCase = true`): incoming payload keys are decamelized before
 * validation, outgoing keys camelized — replies, errors, events, passthroughs, topic frames and,
 * unlike Chanx (chanx.md §5.2.1), group broadcasts, per receiving connection. Values and action
 * names never change.
 */
import { z } from "zod";
import {
  App,
  assert,
  Consumer,
  EVENT_ACTION_COMPLETE,
  eventHandler,
  GROUP_ACTION_COMPLETE,
  InMemoryChannelLayerForTests,
  layers,
  message,
  MESSAGE_ACTION_COMPLETE,
  type MessageOf,
  Ping,
  Pong,
  Topic,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";

const ALIAS = "camel-case-tests";

const Address = z.object({ street_name: z.string(), zip_code: z.string() });
const Profile = z.object({
  display_name: z.string(),
  home_address: Address,
  favorite_tags: z.array(z.object({ tag_name: z.string() })),
});
const UpdateProfile = message("update_profile", Profile);
const ProfileUpdated = message("profile_updated", Profile);
const ShareNote = message(
  "share_note",
  z.object({ note_body: z.object({ text_value: z.string() }) }),
);
const NoteShared = message(
  "note_shared",
  z.object({ author_name: z.string(), note_body: z.object({ text_value: z.string() }) }),
);
const UserStatusChanged = message(
  "user_status_changed",
  z.object({ user_id: z.string(), is_online: z.boolean() }),
);
const StatusSeen = message(
  "status_seen",
  z.object({ user_id: z.string(), seen_online: z.boolean() }),
);
const ServerHint = message("server_hint", z.object({ hint_text: z.string() }));
const RawEcho = message("raw_echo", z.record(z.string(), z.unknown()));

type Events = MessageOf<typeof UserStatusChanged> | MessageOf<typeof ServerHint>;

/** Every payload the camelCase handlers saw, as they saw it. */
const seen: unknown[] = [];

class CamelConsumer extends Consumer<Events> {
  static override layer = ALIAS;
  static override groups = ["mixed-room"];
  static override sendCompletion = true;
  static override camelCase = true;
  static override passthroughEvents = [ServerHint];

  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(UpdateProfile, { output: ProfileUpdated })
  handleUpdateProfile(m: MessageOf<typeof UpdateProfile>): MessageOf<typeof ProfileUpdated> {
    seen.push(m.payload);
    return ProfileUpdated.create(m.payload);
  }

  @wsHandler(ShareNote, { output: NoteShared })
  async handleShareNote(m: MessageOf<typeof ShareNote>): Promise<void> {
    seen.push(m.payload);
    await this.broadcastMessage(
      NoteShared.create({ author_name: "ada_l", note_body: m.payload.note_body }),
    );
  }

  @wsHandler(RawEcho, { output: RawEcho })
  handleRawEcho(m: MessageOf<typeof RawEcho>): MessageOf<typeof RawEcho> {
    seen.push(m.payload);
    return RawEcho.create(m.payload);
  }

  @eventHandler(UserStatusChanged, { output: StatusSeen })
  onUserStatusChanged(e: MessageOf<typeof UserStatusChanged>): MessageOf<typeof StatusSeen> {
    seen.push(e.payload);
    return StatusSeen.create({ user_id: e.payload.user_id, seen_online: e.payload.is_online });
  }
}

/** Same group, snake_case wire: receives the same broadcasts with snake_case keys. */
class SnakeConsumer extends Consumer<Events> {
  static override layer = ALIAS;
  static override groups = ["mixed-room"];
  static override sendCompletion = true;
  static override passthroughEvents = [ServerHint];

  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
}

class DocTopic extends Topic<MessageOf<typeof ServerHint>> {
  static override pattern = "doc:{doc_id}";
  static override layer = ALIAS;
  static override passthroughEvents = [ServerHint];

  @wsHandler(UpdateProfile, { output: ProfileUpdated })
  handleUpdateProfile(m: MessageOf<typeof UpdateProfile>): MessageOf<typeof ProfileUpdated> {
    seen.push(m.payload);
    return ProfileUpdated.create(m.payload);
  }
}

class CamelHub extends CamelConsumer {
  static override topics = [DocTopic];
}

const app = new App()
  .ws("/camel", CamelConsumer)
  .ws("/snake", SnakeConsumer)
  .ws("/hub", CamelHub);

function setup(): void {
  layers.register(ALIAS, new InMemoryChannelLayerForTests());
  seen.length = 0;
}

function connect(path: string, consumer: typeof CamelConsumer | typeof SnakeConsumer) {
  return WebsocketCommunicator.connect(app, path, { consumer });
}

const snakeProfile = {
  display_name: "Ada_Lovelace",
  home_address: { street_name: "main_street", zip_code: "01234" },
  favorite_tags: [{ tag_name: "snake_case_value" }, { tag_name: "camelCaseValue" }],
};
const camelProfile = {
  displayName: "Ada_Lovelace",
  homeAddress: { streetName: "main_street", zipCode: "01234" },
  favoriteTags: [{ tagName: "snake_case_value" }, { tagName: "camelCaseValue" }],
};

Deno.test("incoming keys are decamelized (nested objects and arrays) before validation", async () => {
  setup();
  await using comm = await connect("/camel", CamelConsumer);
  await comm.sendJson({ action: "update_profile", payload: camelProfile });
  await comm.receiveAllMessages();
  assert.deepEqual(seen, [snakeProfile]);
});

Deno.test("outgoing reply keys are camelized; values and the action are untouched", async () => {
  setup();
  await using comm = await connect("/camel", CamelConsumer);
  await comm.sendJson({ action: "update_profile", payload: camelProfile });
  assert.deepEqual(await comm.receiveJson(), { action: "profile_updated", payload: camelProfile });
  assert.deepEqual(await comm.receiveJson(), { action: MESSAGE_ACTION_COMPLETE, payload: null });
});

Deno.test("snake_case keys from a client are accepted too (decamelize leaves them alone)", async () => {
  setup();
  await using comm = await connect("/camel", CamelConsumer);
  await comm.sendJson({ action: "update_profile", payload: snakeProfile });
  assert.deepEqual(await comm.receiveJson(), { action: "profile_updated", payload: camelProfile });
  assert.deepEqual(seen, [snakeProfile]);
});

Deno.test("broadcasts are camelized per receiving connection: camelCase ones get camelCase, others snake_case", async () => {
  setup();
  await using sender = await connect("/camel", CamelConsumer);
  await using camelPeer = await connect("/camel", CamelConsumer);
  await using snakePeer = await connect("/snake", SnakeConsumer);

  await sender.sendJson({ action: "share_note", payload: { noteBody: { textValue: "hi_there" } } });
  const camelFrame = {
    action: "note_shared",
    payload: { authorName: "ada_l", noteBody: { textValue: "hi_there" } },
  };
  const snakeFrame = {
    action: "note_shared",
    payload: { author_name: "ada_l", note_body: { text_value: "hi_there" } },
  };

  // The sender's own copy, then the request's complete (either order): read raw frames.
  const senderFrames = [];
  for (let i = 0; i < 3; i++) senderFrames.push(await sender.receiveJson());
  assert.deepEqual(
    senderFrames.filter((f) => (f as { action: string }).action === "note_shared"),
    [camelFrame],
  );
  assert.deepEqual(
    senderFrames.map((f) => (f as { action: string }).action).filter((a) => a !== "note_shared")
      .sort(),
    [MESSAGE_ACTION_COMPLETE, GROUP_ACTION_COMPLETE].sort(),
  );
  assert.deepEqual(await camelPeer.receiveJson(), camelFrame);
  assert.deepEqual(await camelPeer.receiveJson(), { action: GROUP_ACTION_COMPLETE, payload: null });
  assert.deepEqual(await snakePeer.receiveJson(), snakeFrame);
  assert.deepEqual(await snakePeer.receiveJson(), { action: GROUP_ACTION_COMPLETE, payload: null });
  assert.deepEqual(seen, [{ note_body: { text_value: "hi_there" } }]);
});

Deno.test("a broadcast from a snake_case consumer reaches camelCase connections camelized", async () => {
  setup();
  await using camel = await connect("/camel", CamelConsumer);
  await using snake = await connect("/snake", SnakeConsumer);
  await snake.consumer!.broadcastMessage(
    NoteShared.create({ author_name: "bob_b", note_body: { text_value: "x_y" } }),
  );
  assert.deepEqual(await camel.receiveJson(), {
    action: "note_shared",
    payload: { authorName: "bob_b", noteBody: { textValue: "x_y" } },
  });
  assert.deepEqual(await snake.receiveJson(), {
    action: "note_shared",
    payload: { author_name: "bob_b", note_body: { text_value: "x_y" } },
  });
});

Deno.test("event handler replies and passthrough events are camelized", async () => {
  setup();
  await using camel = await connect("/camel", CamelConsumer);
  await using snake = await connect("/snake", SnakeConsumer);

  await CamelConsumer.broadcastEvent(UserStatusChanged.create({ user_id: "u_1", is_online: true }));
  assert.deepEqual(await camel.receiveJson(), {
    action: "status_seen",
    payload: { userId: "u_1", seenOnline: true },
  });
  assert.deepEqual(await camel.receiveJson(), { action: EVENT_ACTION_COMPLETE, payload: null });
  // Handlers get snake_case: events are not client input and are never converted on the way in.
  assert.deepEqual(seen, [{ user_id: "u_1", is_online: true }]);

  await CamelConsumer.broadcastEvent(ServerHint.create({ hint_text: "try_again" }));
  assert.deepEqual(await camel.receiveJson(), {
    action: "server_hint",
    payload: { hintText: "try_again" },
  });
  assert.deepEqual(await camel.receiveJson(), { action: EVENT_ACTION_COMPLETE, payload: null });
  // snake received both too (same group): the status event has no handler there, the hint does.
  const snakeFrames = await snake.receiveAllMessages({
    stopAction: [EVENT_ACTION_COMPLETE, EVENT_ACTION_COMPLETE],
  });
  assert.deepEqual(snakeFrames, [{ action: "server_hint", payload: { hint_text: "try_again" } }]);
});

Deno.test("validation errors on a camelCase consumer name the snake_case field; complete follows", async () => {
  setup();
  await using comm = await connect("/camel", CamelConsumer);
  await comm.sendJson({
    action: "update_profile",
    payload: { ...camelProfile, homeAddress: { streetName: 5, zipCode: "1" } },
  });
  const error = await comm.receiveJson() as { action: string; payload: Array<{ loc: unknown[] }> };
  assert.equal(error.action, "error");
  assert.equal(error.payload.length, 1);
  assert.deepEqual(error.payload[0].loc.slice(-2), ["home_address", "street_name"]);
  assert.deepEqual(Object.keys(error.payload[0]).sort(), ["loc", "msg", "type"]);
  assert.deepEqual(await comm.receiveJson(), { action: MESSAGE_ACTION_COMPLETE, payload: null });
  assert.deepEqual(seen, []);
});

Deno.test("the communicator mirrors the mode: sendMessage camelizes, receiveAllMessages decamelizes", async () => {
  setup();
  await using comm = await connect("/camel", CamelConsumer);
  await comm.sendMessage(UpdateProfile.create(snakeProfile));
  assert.deepEqual(await comm.receiveAllMessages(), [ProfileUpdated.create(snakeProfile)]);
  assert.deepEqual(seen, [snakeProfile]);
});

Deno.test("topic frames follow the host's camelCase, envelope keys unchanged", async () => {
  setup();
  await using comm = await connect("/hub", CamelHub);
  const subscribed = await comm.subscribe("doc:d_1", { ref: "s1" });
  assert.deepEqual(subscribed, {
    action: "subscribed",
    payload: null,
    version: 1,
    topic: "doc:d_1",
    ref: "s1",
  });

  await comm.sendJson({
    version: 1,
    topic: "doc:d_1",
    ref: "r2",
    action: "update_profile",
    payload: camelProfile,
  });
  assert.deepEqual(await comm.receiveJson(), {
    action: "profile_updated",
    payload: camelProfile,
    version: 1,
    topic: "doc:d_1",
    ref: "r2",
  });
  assert.deepEqual(await comm.receiveJson(), {
    action: MESSAGE_ACTION_COMPLETE,
    payload: null,
    version: 1,
    topic: "doc:d_1",
    ref: "r2",
  });
  assert.deepEqual(seen, [snakeProfile]);

  await DocTopic.broadcast("doc:d_1", ServerHint.create({ hint_text: "re_load" }), { seq: 4 });
  assert.deepEqual(await comm.receiveJson(), {
    action: "server_hint",
    payload: { hintText: "re_load" },
    version: 1,
    topic: "doc:d_1",
    seq: 4,
  });
});

Deno.test("a __proto__ key in a camelCase payload stays data and pollutes nothing", async () => {
  setup();
  await using comm = await connect("/camel", CamelConsumer);
  await comm.sendText('{"action":"raw_echo","payload":{"__proto__":{"isAdmin":true},"someKey":1}}');
  const reply = await comm.receiveJson() as { action: string; payload: Record<string, unknown> };
  assert.equal(reply.action, "raw_echo");
  assert.equal(reply.payload.someKey, 1);
  // The handler got a plain object (the schema drops the key), never a swapped prototype.
  assert.equal(seen.length, 1);
  assert.equal(Object.getPrototypeOf(seen[0]), Object.prototype);
  assert.equal((seen[0] as Record<string, unknown>).isAdmin, undefined);
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
  assert.equal(({} as Record<string, unknown>).is_admin, undefined);
  await comm.receiveAllMessages();
});
