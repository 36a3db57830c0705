/**
 * NATS on Node: the channel layer across two Node processes (a room chat client on each server
 * process, joins, lines and leaves crossing it) and a job on NatsJobQueue, on a private
 * nats-server with JetStream (started here on a free port; skipped when `nats-server` is not
 * installed).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { GROUP_ACTION_COMPLETE, WebsocketCommunicator } from "@switchboard/switchboard/testing";
import { Worker } from "@switchboard/switchboard";
import { NatsJobQueue } from "@switchboard/switchboard/adapters/nats";
import {
  createApp,
  RoomChatConsumer,
  RoomChatMessage,
  RoomNotificationMessage,
} from "../../examples/node/app.mjs";
import { WebSocket } from "./helpers.mjs";

const BIN = process.env.NATS_SERVER_BIN || "nats-server";
const installed = spawnSync(BIN, ["--version"]).status === 0;
if (!installed) console.log(`# ${BIN} is not installed: the NATS tests are skipped`);
const appScript = fileURLToPath(new URL("./nats_app.mjs", import.meta.url));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a private nats-server with JetStream; resolves once it prints that it is ready. */
async function startNats() {
  const port = await freePort();
  const store = mkdtempSync(join(tmpdir(), "sb-node-nats-"));
  const child = spawn(BIN, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", store], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  await new Promise((resolve, reject) => {
    let err = "";
    child.stderr.on("data", (chunk) => {
      err += chunk;
      if (/Server is ready/.test(err)) resolve();
    });
    exited.then((code) => reject(new Error(`nats-server exited early (${code}): ${err}`)));
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGKILL");
      await exited;
      rmSync(store, { recursive: true, force: true });
    },
  };
}

/** Starts one app process; resolves with its ws:// URL and a `stop()` returning its exit code. */
function startServer(natsUrl, prefix) {
  const child = spawn(process.execPath, [appScript], {
    env: { ...process.env, PREFIX: prefix, NATS_URL: natsUrl },
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

describe("NATS on Node: the layer across two processes, the JetStream job queue", {
  skip: !installed,
}, () => {
  it("room chat: joins, lines and leaves reach the other process", async () => {
    const nats = await startNats();
    const prefix = `sb-node-test-${process.pid}`;
    const [one, two] = await Promise.all([
      startServer(nats.url, prefix),
      startServer(nats.url, prefix),
    ]);
    const roomName = "cross-process";
    const path = `/ws/room/${roomName}`;
    const options = (server) => ({ url: server.url, WebSocket, consumer: RoomChatConsumer });
    const alice = new WebsocketCommunicator(app, path, options(one));
    const bob = new WebsocketCommunicator(app, path, options(two));
    try {
      await alice.connect();
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

      await bob.disconnect();
      const left = await alice.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
      assert.equal(left[0].payload.message, `👋 Someone left room '${roomName}'`);
    } finally {
      await alice.disconnect();
      await bob.disconnect();
      const codes = await Promise.all([one.stop(), two.stop()]);
      await nats.stop();
      assert.deepEqual(codes, [0, 0], "both servers shut down cleanly");
    }
  });

  it("a job on NatsJobQueue (JetStream) runs and its result comes back", async () => {
    const nats = await startNats();
    const queue = new NatsJobQueue({ servers: nats.url, prefix: `sbnode${process.pid}` });
    const worker = new Worker(queue, { functions: { add: (_ctx, a, b) => a + b } });
    try {
      const job = await queue.enqueue("add", [2, 3]);
      assert.equal(await job.status(), "queued");
      assert.deepEqual(await worker.runBurst(), { completed: 1, failed: 0, retried: 0 });
      assert.equal(await job.result(), 5);
    } finally {
      await worker.stop();
      await queue.close();
      await nats.stop();
    }
  });
});
