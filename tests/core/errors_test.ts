/** Bad input gets a clear error frame, then `complete`, and the connection keeps working. */
import { assert, memoryLogger, Ping, Pong, setLogger, WebsocketCommunicator } from "./deps.ts";
import { EchoConsumer, freshLayer, makeApp } from "./fixtures.ts";

const app = makeApp({ maxFrameBytes: 2048 });

async function expectError(
  comm: WebsocketCommunicator,
  send: () => Promise<void>,
  payload: unknown,
): Promise<void> {
  await send();
  assert.deepEqual(await comm.receiveAllMessages(), [{ action: "error", payload }]);
  // The connection survives: ping still answers.
  await comm.sendMessage(Ping.create());
  assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
}

Deno.test("error frames for every kind of bad frame, connection stays open", async (t) => {
  freshLayer();
  await using comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });

  await t.step("invalid JSON", async () => {
    await comm.sendText("{not json");
    const [frame] = await comm.receiveAllMessages();
    assert.equal(frame.action, "error");
    const [item] = frame.payload as Array<{ type: string; loc: unknown[]; msg: string }>;
    assert.equal(item.type, "json_invalid");
    assert.deepEqual(item.loc, []);
    assert.match(item.msg, /^Invalid JSON: /);
  });

  await t.step(
    "binary frame",
    () =>
      expectError(comm, () => comm.sendBytes(new Uint8Array([1, 2, 3])), [{
        type: "frame_type",
        loc: [],
        msg: "Binary frames are not supported: send JSON text frames",
      }]),
  );

  for (const raw of ["[1,2]", '"x"', "null", "42"]) {
    await t.step(`non-object ${raw}`, () =>
      expectError(comm, () => comm.sendText(raw), [{
        type: "model_type",
        loc: [],
        msg: "Input should be a JSON object with 'action' and 'payload'",
      }]));
  }

  await t.step("missing action", () =>
    expectError(comm, () => comm.sendJson({ payload: 1 }), [{
      type: "union_tag_not_found",
      loc: [],
      msg: "Unable to extract tag using discriminator 'action'",
    }]));

  await t.step(
    "unknown action lists the accepted actions in handler order",
    () =>
      expectError(comm, () => comm.sendJson({ action: "nope" }), [{
        type: "union_tag_invalid",
        loc: [],
        msg: "Input tag 'nope' found using 'action' does not match any of the expected tags: " +
          "'boom', 'ping', 'say', 'shout', 'slow'",
      }]),
  );

  await t.step("non-string action", () =>
    expectError(comm, () => comm.sendJson({ action: 5 }), [{
      type: "union_tag_invalid",
      loc: [],
      msg: "Input tag '5' found using 'action' does not match any of the expected tags: " +
        "'boom', 'ping', 'say', 'shout', 'slow'",
    }]));

  await t.step("missing payload", () =>
    expectError(comm, () => comm.sendJson({ action: "say" }), [{
      type: "missing",
      loc: ["say", "payload"],
      msg: "Field required",
    }]));

  await t.step("invalid nested payload fields, all reported with their path", async () => {
    await comm.sendJson({ action: "say", payload: { text: "", n: 1.5 } });
    const [frame] = await comm.receiveAllMessages();
    assert.equal(frame.action, "error");
    const items = frame.payload as Array<{ type: string; loc: unknown[]; msg: string }>;
    assert.deepEqual(items.map((i) => i.loc), [["say", "payload", "text"], [
      "say",
      "payload",
      "n",
    ]]);
    assert.deepEqual(items.map((i) => i.type), ["too_small", "invalid_type"]);
    for (const i of items) assert.ok(i.msg.length > 0);
  });

  await t.step(
    "payload on a payload-less message",
    () =>
      expectError(comm, () => comm.sendJson({ action: "ping", payload: 1 }), [{
        type: "none_required",
        loc: ["ping", "payload"],
        msg: "Input should be null",
      }]),
  );

  await t.step(
    "a handler that throws: detail to the client, the error and its stack logged",
    async () => {
      const logger = memoryLogger();
      const previous = setLogger(logger);
      try {
        await expectError(comm, () => comm.sendJson({ action: "boom" }), {
          detail: "Failed to process message for boom",
        });
      } finally {
        setLogger(previous);
      }
      const line = logger.lines.find((l) => l.level === "error");
      assert.equal(line?.message, "Handler error for action 'boom'");
      const error = line?.fields?.error as Error;
      assert.equal(error.message, "kaboom");
      assert.match(error.stack ?? "", /handleBoom/);
    },
  );
});

Deno.test("a frame over the size limit closes the socket with 1009", async () => {
  freshLayer();
  const comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  await comm.sendJson({ action: "say", payload: { text: "x".repeat(4096) } });
  const close = await comm.waitForClose();
  assert.equal(close.code, 1009);
  assert.match(close.reason, /larger than 2048 bytes/);
  await comm.disconnect();
});

Deno.test("multi-byte text is measured in bytes, not characters", async () => {
  freshLayer();
  const comm = await WebsocketCommunicator.connect(app, "/echo", { consumer: EchoConsumer });
  // 800 "€" = 2400 UTF-8 bytes but 800 UTF-16 units: over the 2048-byte limit.
  await comm.sendJson({ action: "say", payload: { text: "€".repeat(800) } });
  assert.equal((await comm.waitForClose()).code, 1009);
  await comm.disconnect();
});
