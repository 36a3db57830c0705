/**
 * Handler replies are checked against the declared `output`: at compile time with the decorators,
 * at run time always (the action) and for plain JavaScript handlers (the payload too). A refused
 * reply is never sent: the client gets an `invalid_reply` error frame, the log says why.
 */
import { z } from "zod";
import {
  App,
  assert,
  Consumer,
  ErrorMessage,
  memoryLogger,
  message,
  type MessageOf,
  onMessage,
  Ping,
  Pong,
  registerHandlers,
  setLogger,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";

const Say = message("say", z.object({ text: z.string() }));
const Said = message("said", z.object({ text: z.string(), n: z.number().default(1) }));
const Other = message("other");

const INVALID = {
  action: "error",
  payload: {
    reason: "invalid_reply",
    detail: "The server's handler for 'say' gave an invalid reply",
  },
};

class TypedConsumer extends Consumer {
  static override layer: null = null;
  static override sendCompletion = true;

  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>) {
    return Pong.create();
  }

  @wsHandler(Say, { output: [Said] })
  handleSay(m: MessageOf<typeof Say>) {
    if (m.payload.text === "error") return ErrorMessage.create({ detail: "refused on purpose" });
    if (m.payload.text === "nothing") return;
    if (m.payload.text === "cheat") return Other.create() as unknown as MessageOf<typeof Said>;
    return Said.create({ text: m.payload.text });
  }
}

class WrongOutput extends Consumer {
  // @ts-expect-error: returns a Said where only Pong is declared
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>) {
    return Said.create({ text: "x" });
  }

  // @ts-expect-error: an async handler is checked too
  @wsHandler(Say, { output: [Pong, Other] })
  async handleSay(_m: MessageOf<typeof Say>) {
    await Promise.resolve();
    return Said.create({ text: "x" });
  }

  @wsHandler(Other) // no output declared: any message (documentation only)
  handleOther(_m: MessageOf<typeof Other>) {
    return Said.create({ text: "x" });
  }
}

/** A plain JavaScript consumer: no types to catch its mistakes. */
class PlainConsumer extends Consumer {
  static override layer: null = null;
  static override sendCompletion = true;
  // deno-lint-ignore no-explicit-any
  handleSay(m: any): any {
    switch (m.payload.text) {
      case "string":
        return "said it";
      case "number":
        return 42;
      case "other":
        return { action: "other", payload: null };
      case "bad":
        return { action: "said", payload: { text: 7 } };
      default:
        return { action: "said", payload: { text: m.payload.text } };
    }
  }
}
registerHandlers(PlainConsumer, { handleSay: onMessage(Say, { output: Said }) });

const app = new App().ws("/typed", TypedConsumer).ws("/plain", PlainConsumer);

async function exchange(path: string, text: string) {
  await using comm = await WebsocketCommunicator.connect(app, path);
  await comm.sendMessage(Say.create({ text }));
  return await comm.receiveAllMessages();
}

async function withLog<T>(run: () => Promise<T>) {
  const logger = memoryLogger();
  const previous = setLogger(logger);
  try {
    return { result: await run(), errors: logger.lines.filter((l) => l.level === "error") };
  } finally {
    setLogger(previous);
  }
}

Deno.test("a declared reply is sent; error messages and no reply pass too", async () => {
  assert.deepEqual(await exchange("/typed", "hi"), [Said.create({ text: "hi" })]);
  assert.deepEqual(await exchange("/typed", "error"), [
    { action: "error", payload: { detail: "refused on purpose" } },
  ]);
  assert.deepEqual(await exchange("/typed", "nothing"), []);
  assert.equal(WrongOutput.name, "WrongOutput"); // compiled only with its @ts-expect-error lines
});

Deno.test("a reply of an undeclared type is not sent: invalid_reply, and the log names both", async () => {
  const { result, errors } = await withLog(() => exchange("/typed", "cheat"));
  // Before: [{action: "other", payload: null}] went to the client.
  assert.deepEqual(result, [INVALID]);
  assert.equal(errors.length, 1);
  assert.equal(
    errors[0].message,
    "TypedConsumer.handleSay() returned 'other', which is not in its declared output ('said'); " +
      "nothing was sent",
  );
});

Deno.test("plain JS: a non-message reply gets invalid_reply instead of a bare complete", async () => {
  for (const [text, what] of [["string", `a string ("said it")`], ["number", "number 42"]]) {
    const { result, errors } = await withLog(() => exchange("/plain", text));
    // Before: [] (only `complete`), the mistake only in the log.
    assert.deepEqual(result, [INVALID], text);
    assert.equal(
      errors[0]?.message,
      `PlainConsumer.handleSay() returned ${what}, not a message; nothing was sent`,
    );
  }
});

Deno.test("plain JS: the reply's action and payload are checked against the output schema", async () => {
  assert.deepEqual(await exchange("/plain", "hi"), [Said.create({ text: "hi" })]); // default n: 1
  const other = await withLog(() => exchange("/plain", "other"));
  assert.deepEqual(other.result, [INVALID]);
  const bad = await withLog(() => exchange("/plain", "bad"));
  assert.deepEqual(bad.result, [INVALID]);
  assert.match(
    bad.errors[0].message,
    /^PlainConsumer\.handleSay\(\) returned a 'said' whose payload its schema refuses \(said\.payload\.text: .*string/,
  );
});
