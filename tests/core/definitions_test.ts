/** Definition-time errors and compile-time typing of handlers. */
import { z } from "zod";
import {
  App,
  assert,
  channel,
  Consumer,
  DefinitionError,
  handlerTable,
  message,
  type MessageOf,
  onMessage,
  Ping,
  Pong,
  registerHandlers,
  wsHandler,
} from "./deps.ts";

const Other = message("other", z.object({ n: z.number() }));

Deno.test("two handlers for one action in one class: error at definition naming both", () => {
  assert.throws(
    () => {
      class Twice extends Consumer {
        @wsHandler(Ping)
        handlePing(_m: MessageOf<typeof Ping>) {}
        @wsHandler(Ping)
        alsoPing(_m: MessageOf<typeof Ping>) {}
      }
      return Twice;
    },
    (e: Error) =>
      e instanceof DefinitionError &&
      e.message.includes("two message handlers for action 'ping': alsoPing() and handlePing()"),
  );
});

Deno.test("duplicates across inheritance are found when the class is mounted", () => {
  class Base extends Consumer {
    @wsHandler(Ping)
    handlePing(_m: MessageOf<typeof Ping>) {}
  }
  class Child extends Base {
    @wsHandler(Ping)
    pingAgain(_m: MessageOf<typeof Ping>) {}
  }
  assert.throws(
    () => new App().ws("/x", Child),
    (e: Error) =>
      e instanceof DefinitionError &&
      e.message ===
        "Child has two message handlers for action 'ping': handlePing() and pingAgain(). " +
          "Actions must be unique within a consumer.",
  );
});

Deno.test("overriding the same method in a subclass is legal", () => {
  class Base extends Consumer {
    @wsHandler(Ping)
    handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> | void {}
  }
  class Child extends Base {
    @wsHandler(Ping, { output: Pong })
    override handlePing(_m: MessageOf<typeof Ping>) {
      return Pong.create();
    }
  }
  const table = handlerTable(Child);
  assert.deepEqual([...table.ws.keys()], ["ping"]);
  assert.deepEqual(table.ws.get("ping")!.output, [Pong]);
});

Deno.test("registerHandlers (no decorators) builds the same table as decorators", () => {
  class Decorated extends Consumer {
    @wsHandler(Ping, { output: Pong, summary: "s" })
    handlePing(_m: MessageOf<typeof Ping>) {
      return Pong.create();
    }
  }
  class Plain extends Consumer {
    handlePing() {
      return Pong.create();
    }
  }
  registerHandlers(Plain, { handlePing: onMessage(Ping, { output: Pong, summary: "s" }) });
  assert.deepEqual(handlerTable(Plain).ws, handlerTable(Decorated).ws);
  assert.throws(
    () => registerHandlers(Plain, { missing: onMessage(Ping) }),
    /missing\(\) is not a method/,
  );
});

Deno.test("a handler whose parameter type does not match its message is a compile error", () => {
  // This file is type-checked by `deno task check` and `deno test`: each @ts-expect-error must
  // be needed, or type-checking fails.
  class Typed extends Consumer {
    // @ts-expect-error: the handler takes an `other` message but is registered for `ping`.
    @wsHandler(Ping)
    wrong(_m: MessageOf<typeof Other>) {}

    @wsHandler(Other)
    right(m: MessageOf<typeof Other>) {
      // @ts-expect-error: payload.n is a number.
      const s: string = m.payload.n;
      void s;
    }
  }
  void Typed;
  // @ts-expect-error: create() checks the payload type at compile time…
  const typeOnly = () => Other.create({ n: "1" });
  void typeOnly;
  // …and validates at run time.
  assert.throws(() => Other.create({ n: "1" } as unknown as { n: number }), /invalid payload/);
});

Deno.test("@channel: the handler table is complete right after the class is defined (not mounted)", () => {
  @channel({ name: "solo", description: "d" })
  class Solo extends Consumer {
    @wsHandler(Ping, { output: Pong })
    handlePing(_m: MessageOf<typeof Ping>) {
      return Pong.create();
    }
  }
  const table = handlerTable(Solo);
  assert.deepEqual([...table.ws.keys()], ["ping"]);
  assert.deepEqual(table.channel, { name: "solo", description: "d" });
});
