import assert from "node:assert/strict";
import { Ping, Pong } from "../../mod.ts";
import { WebsocketCommunicator } from "../../testing/mod.ts";
import { app } from "./main.ts";

Deno.test("quick start: ping and a room broadcast", async () => {
  await using alice = await WebsocketCommunicator.connect(app, "/ws/room/lobby");
  await using bob = await WebsocketCommunicator.connect(app, "/ws/room/lobby");
  await alice.sendMessage(Ping.create());
  assert.deepEqual(await alice.receiveJson(), Pong.create());
  await alice.sendJson({ action: "say", payload: { text: "hi" } });
  const said = { action: "said", payload: { text: "hi", room: "lobby" } };
  assert.deepEqual(await bob.receiveJson(), said);
  assert.deepEqual(await alice.receiveJson(), said);
  await alice.sendJson({ action: "say", payload: { text: "" } });
  const error = (await alice.receiveJson()) as {
    action: string;
    payload: Array<{ loc: unknown[] }>;
  };
  assert.equal(error.action, "error");
  assert.deepEqual(error.payload[0].loc, ["say", "payload", "text"]);
});

Deno.test("the README shows the quick start file exactly", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const source = await Deno.readTextFile(new URL("./main.ts", import.meta.url));
  assert.ok(
    readme.includes("```ts\n" + source + "```"),
    "README quick start differs from examples/quickstart/main.ts",
  );
});
