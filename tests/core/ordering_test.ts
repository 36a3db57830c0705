/** Frames of one connection are handled in order and replies keep that order. */
import { assert, WebsocketCommunicator } from "./deps.ts";
import { EchoConsumer, freshLayer, makeApp, Slow, Tagged } from "./fixtures.ts";

const app = makeApp();

Deno.test("replies keep the order of the frames, whatever each handler awaits", async () => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  // The first frames take longest: concurrent handling would answer them last.
  const delays = [30, 20, 10, 0, 5];
  for (const [i, ms] of delays.entries()) {
    await comm.sendMessage(Slow.create({ ms, tag: `t${i}` }));
  }
  const replies = [];
  for (let i = 0; i < delays.length; i++) replies.push(...await comm.receiveAllMessages());
  assert.deepEqual(replies, delays.map((_, i) => Tagged.create({ tag: `t${i}` })));
});
