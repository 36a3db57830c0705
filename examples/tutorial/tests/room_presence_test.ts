/** The room chat shows who is online: the typed client's presence() and onPresence(). */
import "./test_env.ts";
import assert from "node:assert/strict";
import { applyPresenceDiff, createClient, type PresenceDiffPayload } from "../../../client/mod.ts";
import { serveForTests } from "../../../testing/mod.ts";
import { app } from "../app.ts";
import type { RoomChatConsumer } from "../room_chat/consumer.ts";

Deno.test("room chat presence: the list, then join and leave diffs, over real sockets", async () => {
  await using server = await serveForTests(app);
  const url = (user: string) => `${server.url}/ws/room/presence-demo?user=${user}`;
  await using alice = createClient<typeof RoomChatConsumer>(url("alice"));
  await alice.opened();
  const diffs: PresenceDiffPayload[] = [];
  let arrived = Promise.withResolvers<void>();
  alice.onPresence((d) => {
    diffs.push(d);
    arrived.resolve();
  });
  // The list (a frame is handled after the connection's postAuthentication and tracking).
  const list = await alice.presence(undefined, { diffs: true });
  assert.equal(list.group, "room.presence-demo", "the room's group");
  const entries = list.entries;
  assert.deepEqual(Object.keys(entries), ["alice"]);
  // Bob's two tabs: one join.
  const bob1 = createClient<typeof RoomChatConsumer>(url("bob"));
  const bob2 = createClient<typeof RoomChatConsumer>(url("bob"));
  await arrived.promise;
  assert.deepEqual(Object.keys(diffs[0].joins), ["bob"]);
  applyPresenceDiff(entries, diffs[0]);
  await bob2.opened();
  await bob1.opened();
  // Bob's sockets are open; their tracking may still be on its way: ask until both landed.
  let stats = (await alice.presence()).stats;
  for (let i = 0; i < 50 && stats.connections < 3; i++) stats = (await alice.presence()).stats;
  assert.deepEqual(stats, { keys: 2, connections: 3 });
  // The first tab closing is no leave; the second is.
  arrived = Promise.withResolvers();
  await bob1.close();
  await bob2.close();
  await arrived.promise;
  assert.deepEqual(diffs.slice(1), [{ group: list.group, joins: {}, leaves: { bob: [{}] } }]);
  applyPresenceDiff(entries, diffs[1]);
  assert.deepEqual(Object.keys(entries), ["alice"]);
  // A group the connection is not in is refused.
  await assert.rejects(alice.presence("room.elsewhere"), /presence_refused|Not a member/);
});
