/**
 * What the NATS layer does beyond the conformance suite: a process receives nothing of a group it
 * has no member in (counted on its connection), a message over the server's max_payload is
 * refused with a typed error, another instance's process-local channel is refused.
 */
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import {
  ForeignChannelError,
  MessageTooLargeError,
  NatsChannelLayer,
} from "../../adapters/nats/mod.ts";
import { startNats } from "../../testing/nats_server.ts";
import { skipUnless } from "../../testing/services.ts";
import { receiveWithin } from "./conformance.ts";

const ignore = skipUnless("nats");

Deno.test({
  name: "nats layer: a process receives 0 messages of a group it has no member in",
  ignore,
  async fn() {
    await using server = await startNats();
    const connection = await connect({ servers: server.url });
    const sender = new NatsChannelLayer({ servers: server.url });
    const a = new NatsChannelLayer({ servers: server.url });
    const b = new NatsChannelLayer({ connection }); // counted: b's own connection
    try {
      const onA = await a.newChannel();
      const onB = await b.newChannel();
      await a.groupAdd("room-a", onA);
      await b.groupAdd("room-b", onB);
      const before = connection.stats().inMsgs;
      for (let i = 0; i < 50; i++) await sender.groupSend("room-a", { type: "m", i });
      for (let i = 0; i < 50; i++) assert.equal((await receiveWithin(a, onA)).i, i);
      await sender.groupSend("room-b", { type: "mine" });
      assert.deepEqual(await receiveWithin(b, onB), { type: "mine" });
      // The one message b's connection received is its own group's.
      assert.equal(connection.stats().inMsgs - before, 1);
      // Once its last member left, b no longer hears room-b either.
      await b.groupDiscard("room-b", onB);
      await connection.flush(); // the UNSUB is written without waiting: let the server have it
      await sender.groupSend("room-b", { type: "gone" });
      await a.send(onA, { type: "fence" }); // one more round trip through the server
      assert.deepEqual(await receiveWithin(a, onA), { type: "fence" });
      await connection.flush();
      assert.equal(connection.stats().inMsgs - before, 1);
    } finally {
      await Promise.all([sender.close(), a.close(), b.close()]);
      await connection.close();
    }
  },
});

Deno.test({
  name: "nats layer: a message over max_payload is refused with MessageTooLargeError",
  ignore,
  async fn() {
    await using server = await startNats(); // the default max_payload: 1 MB
    const layer = new NatsChannelLayer({ servers: server.url });
    try {
      const channel = await layer.newChannel();
      const error = await layer.send(channel, { type: "big", data: "x".repeat(1024 * 1024) })
        .then(() => undefined, (e) => e);
      assert.ok(error instanceof MessageTooLargeError, String(error));
      assert.equal(error.maxPayload, 1024 * 1024);
      await layer.send(channel, { type: "small" });
      assert.deepEqual(await receiveWithin(layer, channel), { type: "small" });
    } finally {
      await layer.close();
    }
  },
});

Deno.test({
  name: "nats layer: another instance's process-local channel is refused in receive and groupAdd",
  ignore,
  async fn() {
    await using server = await startNats();
    const a = new NatsChannelLayer({ servers: server.url });
    const b = new NatsChannelLayer({ servers: server.url });
    try {
      const onA = await a.newChannel();
      await assert.rejects(() => b.receive(onA), ForeignChannelError);
      await assert.rejects(() => b.groupAdd("g", onA), ForeignChannelError);
      await b.send(onA, { type: "direct" }); // sending to it is what it is for
      assert.deepEqual(await receiveWithin(a, onA), { type: "direct" });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  },
});

Deno.test("nats layer: bad options are refused with TypeError", () => {
  assert.throws(() => new NatsChannelLayer({ prefix: "a b" }), TypeError);
  assert.throws(() => new NatsChannelLayer({ prefix: "a.*" }), TypeError);
  assert.throws(() => new NatsChannelLayer({ expiry: 0 }), TypeError);
  assert.throws(() => new NatsChannelLayer({ servers: [] }), TypeError);
  assert.throws(() => new NatsChannelLayer({ timeouts: { commandTimeoutMs: -1 } }), RangeError);
});
