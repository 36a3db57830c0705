/**
 * The Redis channel layers across two Node processes: a room chat client on each server process,
 * joins, lines and leaves crossing through Redis (pub/sub layer and queue layer). Needs REDIS_URL.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { Ping, Pong } from "@switchboard/switchboard";
import { GROUP_ACTION_COMPLETE, WebsocketCommunicator } from "@switchboard/switchboard/testing";
import {
  createApp,
  RoomChatConsumer,
  RoomChatMessage,
  RoomNotificationMessage,
} from "../../examples/node/app.mjs";
import { WebSocket } from "./helpers.mjs";

const REDIS_URL = process.env.REDIS_URL;
const serverScript = fileURLToPath(new URL("./redis_server.mjs", import.meta.url));
if (!REDIS_URL) console.log("# REDIS_URL is not set: the Redis tests are skipped");

/** Starts one server process; resolves with its ws:// URL and a `stop()` returning its exit code. */
function startServer(layer, prefix) {
  const child = spawn(process.execPath, [serverScript], {
    env: { ...process.env, LAYER: layer, PREFIX: prefix, REDIS_URL },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = /listening on (ws:\/\/\S+)/.exec(out);
      if (m) {
        resolve({
          url: m[1],
          async stop() {
            child.kill("SIGTERM");
            return await exited;
          },
        });
      }
    });
    exited.then((code) => reject(new Error(`server exited early (${code}): ${out}`)));
  });
}

const app = createApp(); // only for the communicators' bookkeeping: the servers are elsewhere

for (const layer of ["pubsub", "queue"]) {
  describe(`Redis ${layer} layer across two Node processes`, { skip: !REDIS_URL }, () => {
    it("room chat: joins, lines and leaves reach the other process", async () => {
      const prefix = `sb-node-test-${process.pid}-${Date.now()}-${layer}`;
      const [one, two] = await Promise.all([
        startServer(layer, prefix),
        startServer(layer, prefix),
      ]);
      const roomName = "cross-process";
      const path = `/ws/room/${roomName}`;
      const options = (server) => ({ url: server.url, WebSocket, consumer: RoomChatConsumer });
      const alice = new WebsocketCommunicator(app, path, options(one));
      const bob = new WebsocketCommunicator(app, path, options(two));
      try {
        await alice.connect();
        // A ping round trip before bob comes: frames are handled after postAuthentication, so
        // alice's own join notice (to nobody else) is published by then. Without it a loaded
        // server one could publish it after bob's server subscribed to the room, and bob would
        // get it (seen once under load: the flake of tests/FLAKES.md).
        await alice.sendMessage(Ping.create());
        assert.deepEqual(await alice.receiveAllMessages(), [Pong.create()]);
        assert.ok(await alice.receiveNothing());

        await bob.connect();
        const joined = await alice.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
        assert.equal(joined.length, 1);
        assert.equal(joined[0].payload.message, `🚪 Someone joined room '${roomName}'`);

        const expected = RoomNotificationMessage.create({
          message: "💬 hello from process one",
          room_name: roomName,
          status: "PENDING",
        });
        await alice.sendMessage(RoomChatMessage.create({ message: "hello from process one" }));
        assert.deepEqual(
          await bob.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }),
          [expected],
        );
        assert.deepEqual(
          await alice.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }),
          [expected],
        );

        await bob.sendMessage(RoomChatMessage.create({ message: "and back" }));
        const back = await alice.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
        assert.equal(back[0].payload.message, "💬 and back");
        await bob.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });

        await bob.disconnect();
        const left = await alice.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
        assert.equal(left[0].payload.message, `👋 Someone left room '${roomName}'`);
      } finally {
        await alice.disconnect();
        await bob.disconnect();
        const codes = await Promise.all([one.stop(), two.stop()]);
        assert.deepEqual(codes, [0, 0], "both servers shut down cleanly");
      }
    });
  });
}
