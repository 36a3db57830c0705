/**
 * Server-side gap fill on NATS (docs/recovery.md): when a process's NATS connection comes back
 * after an outage, its connections with history get what was published meanwhile from the
 * JetStream history, in order, instead of only a resync. The process's connection goes through
 * a TCP proxy; the sender is another layer instance ("process").
 *
 * @module
 */
import assert from "node:assert/strict";
import { App, Consumer, layers, LayerUnavailableError } from "../../mod.ts";
import { GROUP_TYPE } from "../../src/layers/messages.ts";
import { skipReason } from "../../testing/services.ts";
import { TcpProxy } from "../../testing/tcp_proxy.ts";
import { WebsocketCommunicator } from "../../testing/mod.ts";
import { nextEvent } from "./conformance.ts";
import { makeNatsLayer, startTestNats } from "./nats_harness.ts";

const HISTORY = { size: 1000, ttlMs: 60_000 };

for (const restart of ["none", "keepData", "empty"] as const) {
  Deno.test({
    name: `nats: a connection back after an outage fills the gap from the JetStream history (${
      restart === "none" ? "the connection cut" : `NATS restarted, ${restart}`
    })`,
    ignore: !!skipReason("nats"),
    fn: () => gapScenario(restart),
  });
}

async function gapScenario(restart: "none" | "keepData" | "empty"): Promise<void> {
  const nats = await startTestNats();
  const proxy = await TcpProxy.start(nats.server.port);
  const local = makeNatsLayer({ servers: proxy.url("nats") }, "gap");
  const remote = makeNatsLayer({ servers: nats.server.url }, "gap");
  const alias = `nats-gap-${restart}`;
  layers.register(alias, local);
  class Chat extends Consumer {
    static override layer = alias;
    static override groups = ["gap-room"];
    static override history = HISTORY;
    static resyncs: string[] = [];
    override onResync(reason: string) {
      Chat.resyncs.push(reason);
    }
  }
  const app = new App().ws("/chat", Chat);
  const send = (n: number) =>
    remote.appendAndSend("gap-room", {
      type: GROUP_TYPE,
      message: { action: "posted", payload: { n } },
    }, HISTORY);
  try {
    await using client = await WebsocketCommunicator.connect(app, "/chat");
    const start = await client.receiveJson() as { action: string };
    assert.equal(start.action, "history_position");
    await send(1);
    assert.deepEqual(((await client.receiveJson()) as { payload: unknown }).payload, { n: 1 });

    const down = nextEvent(local, "disconnected");
    proxy.refuse();
    proxy.cut();
    await down;
    if (restart !== "none") await nats.server.restart({ keepData: restart === "keepData" });
    for (let n = 2; n <= 200; n++) await retried(() => send(n));
    const back = nextEvent(local, "resync", 20_000);
    proxy.heal();
    await back;
    if (restart === "empty") {
      // The history was lost with the store: told, then what the new history holds (all of it).
      const told = await client.receiveJson() as { action: string; payload: { reason: string } };
      assert.equal(told.action, "history_recovery");
      assert.equal(told.payload.reason, "epoch_changed");
    }
    for (let n = 2; n <= 200; n++) {
      const frame = await client.receiveJson() as {
        payload: unknown;
        position: { offset: number };
      };
      assert.deepEqual(frame.payload, { n });
      assert.equal(frame.position.offset, restart === "empty" ? n - 1 : n);
    }
    await send(201);
    assert.deepEqual(((await client.receiveJson()) as { payload: unknown }).payload, { n: 201 });
    assert.deepEqual(
      Chat.resyncs,
      restart === "empty" ? ["history: epoch_changed"] : [],
      "a filled gap needs no resync; a lost history is one",
    );
  } finally {
    layers.unregister(alias);
    await local.close();
    await remote.close();
    await proxy.close();
    await nats.stop();
  }
}

/** Runs `fn` until the sender's NATS connection is back (a restart drops it). */
async function retried<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof LayerUnavailableError) || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
