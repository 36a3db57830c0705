/**
 * The tutorial on a Redis Cluster, across processes: two `deno task dev` server processes with
 * REDIS_CLUSTER_URLS (a private 3-master, 3-replica cluster) serve one room — a line posted on
 * one reaches a member connected to the other — and `external_sender.ts`, run as a third
 * process, reaches `/ws/chat` sockets on both.
 */
import assert from "node:assert/strict";
import { randomToken } from "../../../src/layers/kit.ts";
import { startRedisCluster } from "../../../testing/redis_cluster.ts";
import { skipReason } from "../../../testing/services.ts";
import { spawnApp, type SpawnedApp } from "../../../testing/spawn_app.ts";

const ROOT = new URL("../../../", import.meta.url);
const MAIN = new URL("../main.ts", import.meta.url);
const SENDER = new URL("../external_sender.ts", import.meta.url);

/** A raw WebSocket with a queue of the JSON frames it received. */
class Socket {
  readonly frames: Array<{ action: string; payload?: Record<string, unknown> }> = [];
  #waiters: Array<() => void> = [];
  readonly ws: WebSocket;
  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.onmessage = (e) => {
      this.frames.push(JSON.parse(String(e.data)));
      for (const w of this.#waiters.splice(0)) w();
    };
  }
  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error("socket error"));
    });
  }
  /** Waits (at most `ms`) for a frame whose payload `message` contains `text`. */
  async waitFor(text: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.frames.some((f) => String(f.payload?.message ?? "").includes(text))) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no frame with ${text}; got ${JSON.stringify(this.frames).slice(0, 500)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
  /** A ping answered: the consumer is connected (and has joined its groups). */
  async ready(): Promise<void> {
    this.ws.send(JSON.stringify({ action: "ping" }));
    const deadline = Date.now() + 10_000;
    while (!this.frames.some((f) => f.action === "pong")) {
      if (Date.now() > deadline) throw new Error("no pong");
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.onclose = () => resolve();
      this.ws.close();
    });
  }
}

Deno.test({
  name:
    "tutorial on a Redis Cluster: two server processes serve one room; a sender process reaches both",
  ignore: skipReason("redis") !== undefined,
  async fn() {
    await using cluster = await startRedisCluster();
    const env = {
      NATS_URL: "", // a shell's NATS_URL would win over the cluster (settings.ts)
      REDIS_CLUSTER_URLS: cluster.urls.slice(0, 2).join(","),
      REDIS_URL: "",
      SWITCHBOARD_PREFIX: `cl${randomToken(6)}`,
      NO_COLOR: "1",
    };
    const apps: SpawnedApp[] = [];
    const sockets: Socket[] = [];
    const open = async (app: SpawnedApp, path: string) => {
      const socket = new Socket(`${app.url}${path}`);
      sockets.push(socket);
      await socket.opened();
      await socket.ready();
      return socket;
    };
    try {
      for (let i = 0; i < 2; i++) {
        apps.push(
          await spawnApp(MAIN, env, {
            cwd: ROOT.pathname,
            args: ["--no-worker"],
            ready: /Switchboard tutorial on .*layers: redis-cluster/,
            startTimeoutMs: 60_000,
          }),
        );
      }
      const [a, b] = apps;
      // One room, a member on each server.
      const onB = await open(b, "/ws/room/lobby");
      const onA = await open(a, "/ws/room/lobby");
      await onB.waitFor("Someone joined room 'lobby'"); // A's join, heard on B
      onA.ws.send(JSON.stringify({ action: "room_chat", payload: { message: "hello from A" } }));
      await onB.waitFor("💬 hello from A");
      await onA.waitFor("💬 hello from A");

      // A sender process on the same cluster reaches /ws/chat sockets on both servers.
      const chatA = await open(a, "/ws/chat");
      const chatB = await open(b, "/ws/chat");
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-net", "--allow-env", "--allow-read", SENDER.pathname, "chat"],
        cwd: ROOT.pathname,
        env: { ...env, SENDER_DELAY_SCALE: "0" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder();
      assert.equal(out.code, 0, text.decode(out.stdout) + text.decode(out.stderr));
      await chatA.waitFor("Welcome to the chat!");
      await chatB.waitFor("Welcome to the chat!");
    } catch (error) {
      for (const app of apps) console.error(app.output());
      throw error;
    } finally {
      await Promise.all(sockets.map((s) => s.close()));
      await Promise.all(apps.map((app) => app.kill("SIGTERM")));
    }
  },
});
