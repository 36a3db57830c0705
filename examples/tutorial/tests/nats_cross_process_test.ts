/**
 * The tutorial app on NATS across processes: two `deno task dev` processes (spawnApp, NATS_URL
 * set, no REDIS_URL) on one private nats-server serve one room, a separate sender process
 * (`deno task send chat`) reaches the chat clients of both, and a job enqueued on the process
 * without a worker is run by the other one's.
 */
import "./test_env.ts";
import assert from "node:assert/strict";
import {
  EVENT_ACTION_COMPLETE,
  GROUP_ACTION_COMPLETE,
  spawnApp,
  WebsocketCommunicator,
} from "../../../testing/mod.ts";
import { startNats } from "../../../testing/nats_server.ts";
import { skipUnless } from "../../../testing/services.ts";
import { app } from "../app.ts";
import { Ping, Pong } from "../../../mod.ts";
import { layerBackend } from "../layers.ts";
import { checkSettings, natsServers, SettingsError, withSettings } from "../settings.ts";
import { RoomChatConsumer } from "../room_chat/consumer.ts";
import { RoomChatMessage, RoomNotificationMessage } from "../room_chat/messages.ts";
import { ChatConsumer } from "../showcase/consumer.ts";
import { BackgroundJobConsumer } from "../background_jobs/consumer.ts";
import { JobMessage, JobStatusMessage } from "../background_jobs/messages.ts";
import { BOTH, chatNotice } from "./showcase_helpers.ts";

const MAIN = import.meta.resolve("../main.ts");
const SENDER = new URL("../external_sender.ts", import.meta.url);
const ROOT = new URL("../../../", import.meta.url);

const line = (message: string) =>
  RoomNotificationMessage.create({ message, room_name: "lobby", status: "PENDING" });

Deno.test({
  name: "tutorial on NATS: two server processes serve one room; a sender process reaches both",
  ignore: skipUnless("nats"),
  async fn() {
    await using nats = await startNats();
    const env = {
      NATS_URL: nats.url,
      REDIS_URL: "", // layers and jobs on NATS: nothing of this test touches Redis
      SWITCHBOARD_PREFIX: `nats-${crypto.randomUUID().slice(0, 8)}`,
      SEND_COMPLETION: "1",
      NO_COLOR: "1",
    };
    const ready = /Switchboard tutorial on http:\/\/\S+ \(layers: nats/;
    await using one = await spawnApp(MAIN, env, { ready });
    // The second process runs no worker: its jobs are run by the first one's, through NATS.
    await using two = await spawnApp(MAIN, env, { ready, args: ["--no-worker"] });

    // One room, a member on each process: joins, and lines from either side, reach both.
    const path = "/ws/room/lobby";
    await using a = await WebsocketCommunicator.connect(app, path, {
      url: one.url,
      consumer: RoomChatConsumer,
    });
    // a's postAuthentication (join, then its join notice) runs before its first frame is
    // handled: once a's ping is answered, that notice is out, and b (not yet there) cannot hear
    // it. Without this b could join in time to get it (repeat run 12 of session 9).
    await a.sendMessage(Ping.create());
    assert.deepEqual(await a.receiveAllMessages(), [Pong.create()]);
    await using b = await WebsocketCommunicator.connect(app, path, {
      url: two.url,
      consumer: RoomChatConsumer,
    });
    assert.deepEqual(await a.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [
      line("🚪 Someone joined room 'lobby'"),
    ]);
    // Each sender sees its own line and its handler's completion; the other process's member
    // sees the line.
    for (const [from, to, text] of [[a, b, "from one"], [b, a, "from two"]] as const) {
      await from.sendMessage(RoomChatMessage.create({ message: text }));
      assert.deepEqual(await from.receiveAllMessages({ stopAction: BOTH }), [line(`💬 ${text}`)]);
      assert.deepEqual(await to.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE }), [
        line(`💬 ${text}`),
      ]);
    }
    assert.ok(await a.receiveNothing());
    assert.ok(await b.receiveNothing());

    // A separate sender process: its broadcast reaches the chat clients of both servers.
    await using chatOne = await WebsocketCommunicator.connect(app, "/ws/chat", {
      url: one.url,
      consumer: ChatConsumer,
    });
    await using chatTwo = await WebsocketCommunicator.connect(app, "/ws/chat", {
      url: two.url,
      consumer: ChatConsumer,
    });
    const sender = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-env", "--allow-read", SENDER.pathname, "chat"],
      cwd: ROOT.pathname,
      env: { ...env, SENDER_DELAY_SCALE: "0" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    assert.equal(sender.code, 0, `${text.decode(sender.stdout)}\n${text.decode(sender.stderr)}`);
    const joined = chatNotice("📢 Someone joined the chat");
    for (const comm of [chatOne, chatTwo]) {
      // Join notices of the chat clients may come first (from either process).
      const got = await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE });
      assert.deepEqual(got.at(-1), chatNotice("🔔 System announcement: Welcome to the chat!"));
      for (const frame of got.slice(0, -1)) assert.deepEqual(frame, joined);
    }
    assert.ok(await a.receiveNothing(), "the room heard the chat broadcast");

    // A job enqueued on the process without a worker runs on the other one (NatsJobQueue), and
    // its result comes back to the client that asked (NATS layer).
    await using jobs = await WebsocketCommunicator.connect(app, "/ws/background_jobs", {
      url: two.url,
      consumer: BackgroundJobConsumer,
    });
    await jobs.receiveAllMessages({ stopAction: "job_status" }); // the greeting
    await jobs.sendMessage(JobMessage.create({ type: "translate", content: "hello" }));
    const statuses = await jobs.receiveAllMessages();
    assert.deepEqual(statuses.map((m) => (m.payload as { status: string }).status), [
      "queuing",
      "queued",
    ]);
    assert.deepEqual(await jobs.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
      JobStatusMessage.create({ status: "result", message: "🌍 Translated: 'hello' → 'hola'" }),
    ]);

    // Readiness: every NATS layer and the JetStream queue answer; once NATS is gone, 503 names
    // them all, within the check's bound.
    const healthz = async () => {
      const response = await fetch(`${one.httpUrl}/healthz`);
      return { status: response.status, body: await response.json() };
    };
    const up = await healthz();
    assert.equal(up.status, 200, JSON.stringify(up.body));
    await nats.stop();
    const down = await healthz();
    assert.equal(down.status, 503);
    assert.deepEqual(down.body.failed.sort(), [
      "jobs",
      "layer:analytics",
      "layer:chat",
      "layer:notifications",
      "layer:queue",
    ]);
  },
});

Deno.test("NATS_URL: several servers are read; one without its scheme is a SettingsError", () => {
  // withSettings, not Deno.env: other test files read the process's environment meanwhile.
  withSettings({ NATS_URL: "nats://127.0.0.1:4222, tls://nats.example.com:4443" }, () => {
    assert.deepEqual(natsServers(), ["nats://127.0.0.1:4222", "tls://nats.example.com:4443"]);
    assert.equal(layerBackend(), "nats");
  });
  withSettings({ NATS_URL: "127.0.0.1:4222" }, () => {
    assert.throws(() => natsServers(), SettingsError);
    assert.throws(() => checkSettings(), /NATS_URL=nats:\/\/127\.0\.0\.1:4222/);
  });
  withSettings({ NATS_URL: " , " }, () => {
    assert.throws(() => natsServers(), /names no server/);
  });
});
