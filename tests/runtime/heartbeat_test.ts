/**
 * The one heartbeat (src/runtime/heartbeat.ts): its policy (adapter option, else the app's
 * `heartbeatSeconds`, else 30), its ping sweep over fake peers, and the Node adapter's option
 * names: `heartbeatSeconds`, and `idleTimeout` as its deprecated alias.
 */
import assert from "node:assert/strict";
import { serve } from "@switchboard/switchboard/adapters/node";
import { Heartbeat, heartbeatSeconds } from "../../src/runtime/heartbeat.ts";
import { rawWebSocket } from "../helpers/raw_ws.ts";
import { makeApp } from "./fixtures.ts";

/** `promise`, or a failure naming `what` after `ms` (its timer also keeps the event loop alive). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return await Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

Deno.test("heartbeat policy: the adapter's option, else the app's heartbeatSeconds, else 30", () => {
  assert.equal(heartbeatSeconds({}), 30);
  assert.equal(heartbeatSeconds({ heartbeatSeconds: 5 }), 5);
  assert.equal(heartbeatSeconds({ heartbeatSeconds: 5 }, 0.5), 0.5);
  assert.equal(heartbeatSeconds({ heartbeatSeconds: 5 }, 0), 0, "0 (off) is an answer, not a gap");
});

Deno.test("Heartbeat: a peer that answers pings stays, a silent one is dropped, then it stops", async () => {
  const events: string[] = [];
  let dropped!: () => void;
  const droppedSilent = new Promise<void>((resolve) => (dropped = resolve));
  const heartbeat = new Heartbeat<{ name: string; ping(): void; terminate(): void }>(
    0.01,
    (peer) => events.push(`drop ${peer.name}`),
  );
  const live = {
    name: "live",
    ping: () => heartbeat.seen(live), // answers at once, like a pong
    terminate: () => events.push("terminate live"),
  };
  const silent = {
    name: "silent",
    ping: () => events.push("ping silent"),
    terminate: () => {
      heartbeat.delete(silent); // a closed socket leaves, as the adapters do on close
      dropped();
    },
  };
  heartbeat.add(live);
  heartbeat.add(silent);
  await within(droppedSilent, 5000, "the silent peer was not dropped");
  assert.deepEqual(events, ["ping silent", "drop silent"]);
  heartbeat.delete(live); // the last peer stops the interval (the op sanitizer checks it)
});

Deno.test("Heartbeat: 0 seconds disables it (no interval is started)", () => {
  const heartbeat = new Heartbeat(0);
  heartbeat.add({ ping: () => assert.fail("no ping"), terminate: () => assert.fail("no drop") });
});

for (const option of [{ heartbeatSeconds: 0.2 }, { idleTimeout: 0.2 }]) {
  Deno.test(`Node adapter: ${JSON.stringify(option)} reaps a peer that never pongs`, async () => {
    const server = await serve(makeApp(), { port: 0, closeTimeout: 1000, ...option });
    try {
      const dead = await rawWebSocket(server.port, "/echo");
      assert.equal(dead.status, 101);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("not reaped within 5 s (app default: 30)")),
          5000,
        );
      });
      const { pings } = await Promise.race([dead.closed, late]).finally(() => clearTimeout(timer));
      dead.close();
      assert.ok(pings >= 1, "the server pinged before it dropped the peer");
    } finally {
      await server.close({ closeLayers: false });
    }
  });
}
