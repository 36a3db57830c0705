/**
 * Handler mixins: functions that extend any consumer class with `@wsHandler` / `@eventHandler`
 * methods, `passthroughEvents` and `extraGroups` (Chanx's `extra_request` / `extra_event` /
 * `extra_passthrough` mixins, and `extra_groups` merged across the MRO).
 */
import { z } from "zod";
import {
  type AnyMessage,
  type AnyMessageType,
  App,
  assert,
  channel,
  Consumer,
  DefinitionError,
  EVENT_ACTION_COMPLETE,
  eventHandler,
  handlerTable,
  InMemoryChannelLayerForTests,
  layers,
  message,
  type MessageOf,
  onEvent,
  onMessage,
  Ping,
  Pong,
  registerHandlers,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";

const ALIAS = "mixin-tests";

const ExtraRequest = message("extra_request", z.string());
const ExtraEvent = message("extra_event", z.string());
const ExtraResponse = message("extra_response", z.string());
const ExtraPassthrough = message("extra_passthrough", z.string());
const Forward = message("forward", z.object({ n: z.number() }));
const Shout = message("shout", z.string());

/** What a mixin may extend. */
type Base =
  // deno-lint-ignore no-explicit-any
  & (abstract new (...args: any[]) => Consumer<any>)
  & Omit<typeof Consumer, "prototype">;

function WsMixin<T extends Base>(B: T) {
  abstract class Ws extends B {
    static override extraGroups: readonly string[] = ["ws_group"];
    @wsHandler(ExtraRequest, { output: ExtraResponse, summary: "Handle extra request" })
    handleExtraMessage(m: MessageOf<typeof ExtraRequest>): MessageOf<typeof ExtraResponse> {
      return ExtraResponse.create(`${m.payload} any extra thing`);
    }
  }
  return Ws;
}

function EventMixin<T extends Base>(B: T) {
  abstract class Ev extends B {
    static override extraGroups: readonly string[] = ["event_group"];
    @eventHandler(ExtraEvent, { output: ExtraResponse })
    handleExtraEvent(e: MessageOf<typeof ExtraEvent>): MessageOf<typeof ExtraResponse> {
      return ExtraResponse.create(`${e.payload} any extra thing`);
    }
  }
  return Ev;
}

function PassthroughMixin<T extends Base>(B: T) {
  abstract class Passthrough extends B {
    static override passthroughEvents: readonly AnyMessageType[] = [ExtraPassthrough];
  }
  return Passthrough;
}

/** A mixin over concrete classes only, returning an anonymous class expression. */
function AnonymousShoutMixin<
  // deno-lint-ignore no-explicit-any
  T extends (new (...args: any[]) => Consumer<any>) & Omit<typeof Consumer, "prototype">,
>(B: T) {
  return class extends B {
    @wsHandler(Shout, { output: ExtraResponse })
    handleShout(m: MessageOf<typeof Shout>): MessageOf<typeof ExtraResponse> {
      return ExtraResponse.create(m.payload.toUpperCase());
    }
  };
}

type Events = MessageOf<typeof ExtraEvent> | MessageOf<typeof ExtraPassthrough>;

class Composed extends WsMixin(EventMixin(PassthroughMixin(Consumer<Events>))) {
  static override layer = ALIAS;
  static override groups = ["composed"];
  static override sendCompletion = true;

  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
}

function freshLayer(): void {
  layers.register(ALIAS, new InMemoryChannelLayerForTests());
}

async function connect(cls: typeof Consumer, path = "/x") {
  return await WebsocketCommunicator.connect(new App().ws(path, cls as never), path, {
    consumer: cls as never,
  });
}

Deno.test("handlerTable sees the handlers of every mixin level", () => {
  const table = handlerTable(Composed);
  assert.deepEqual([...table.ws.entries()].map(([a, h]) => [a, h.method]), [
    ["extra_request", "handleExtraMessage"],
    ["ping", "handlePing"],
  ]);
  assert.deepEqual(
    [...table.events.entries()].map(([a, h]) => [a, h.method, h.passthrough]),
    [
      ["extra_event", "handleExtraEvent", false],
      ["extra_passthrough", "handlePassthroughExtraPassthrough", true],
    ],
  );
  assert.equal(table.ws.get("extra_request")!.summary, "Handle extra request");
  assert.equal(table.expected, "'extra_request', 'ping'");
});

Deno.test("a composed consumer answers the mixins' messages and events on a live connection", async () => {
  freshLayer();
  await using comm = await connect(Composed);

  await comm.sendMessage(ExtraRequest.create("hello"));
  assert.deepEqual(await comm.receiveAllMessages(), [
    ExtraResponse.create("hello any extra thing"),
  ]);

  await Composed.broadcastEvent(ExtraEvent.create("event"), { groups: "composed" });
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
    ExtraResponse.create("event any extra thing"),
  ]);

  await Composed.broadcastEvent(ExtraPassthrough.create("verbatim"), { groups: "composed" });
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
    ExtraPassthrough.create("verbatim"),
  ]);
});

Deno.test("decorators work in an anonymous class expression returned by a mixin", async () => {
  freshLayer();
  class Loud extends AnonymousShoutMixin(Consumer) {
    static override layer = ALIAS;
    static override sendCompletion = true;
  }
  assert.deepEqual([...handlerTable(Loud).ws.keys()], ["shout"]);
  await using comm = await connect(Loud);
  await comm.sendMessage(Shout.create("hey"));
  assert.deepEqual(await comm.receiveAllMessages(), [ExtraResponse.create("HEY")]);
});

Deno.test("mixin order does not change the handlers", () => {
  class Other extends PassthroughMixin(EventMixin(WsMixin(Consumer))) {}
  const a = handlerTable(Composed);
  const b = handlerTable(Other);
  assert.deepEqual([...b.ws.keys()], ["extra_request"]);
  assert.deepEqual([...b.events.keys()], [...a.events.keys()]);
});

Deno.test("extraGroups merge across mixins, most-derived first, without duplicates", () => {
  // Chanx: groups=["static_group"] + mixin extras ["notify_group"] → both.
  function NotifyMixin<T extends Base>(B: T) {
    abstract class N extends B {
      static override extraGroups: readonly string[] = ["notify_group"];
    }
    return N;
  }
  class Static extends NotifyMixin(Consumer) {
    static override groups = ["static_group"];
  }
  assert.deepEqual(Static.defaultGroups(), ["static_group", "notify_group"]);

  // Chanx: consumer extras ["gateway_group"] + mixins ["health_group"], ["echo_group"].
  function HealthMixin<T extends Base>(B: T) {
    abstract class H extends B {
      static override extraGroups: readonly string[] = ["health_group"];
    }
    return H;
  }
  function EchoMixin<T extends Base>(B: T) {
    abstract class E extends B {
      static override extraGroups: readonly string[] = ["echo_group", "health_group"];
    }
    return E;
  }
  class Gateway extends HealthMixin(EchoMixin(Consumer)) {
    static override extraGroups: readonly string[] = ["gateway_group"];
  }
  assert.deepEqual(Gateway.defaultGroups(), ["gateway_group", "health_group", "echo_group"]);
  // A subclass that declares nothing inherits the merge.
  class Sub extends Gateway {}
  assert.deepEqual(Sub.defaultGroups(), ["gateway_group", "health_group", "echo_group"]);
  // The class groups come first; a group in both lists appears once.
  class Both extends HealthMixin(Consumer) {
    static override groups = ["health_group", "main"];
  }
  assert.deepEqual(Both.defaultGroups(), ["health_group", "main"]);
});

Deno.test("a connection joins the mixins' groups; broadcastEvent reaches it through them", async () => {
  freshLayer();
  assert.deepEqual(Composed.defaultGroups(), ["composed", "ws_group", "event_group"]);
  await using comm = await connect(Composed);
  assert.deepEqual(comm.consumer!.groups, ["composed", "ws_group", "event_group"]);

  // Without groups, broadcastEvent targets all three: one copy per group, as in Chanx.
  await Composed.broadcastEvent(ExtraEvent.create("all"));
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
      ExtraResponse.create("all any extra thing"),
    ]);
  }
  for (const group of ["ws_group", "event_group"]) {
    await Composed.broadcastEvent(ExtraEvent.create(group), { groups: group });
    assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
      ExtraResponse.create(`${group} any extra thing`),
    ]);
  }
});

Deno.test("passthroughEvents merge additively; a subclass cannot drop one; an explicit handler wins", async () => {
  freshLayer();
  class Forwarding extends PassthroughMixin(Consumer<AnyMessage>) {
    static override layer = ALIAS;
    static override sendCompletion = true;
    static override passthroughEvents: readonly AnyMessageType[] = [Forward];
  }
  class Emptied extends Forwarding {
    static override passthroughEvents: readonly AnyMessageType[] = [];
  }
  for (const cls of [Forwarding, Emptied]) {
    assert.deepEqual([...handlerTable(cls).events.keys()], ["forward", "extra_passthrough"]);
  }

  class Explicit extends Forwarding {
    @eventHandler(ExtraPassthrough, { output: ExtraResponse })
    handleExtraPassthrough(e: MessageOf<typeof ExtraPassthrough>): MessageOf<typeof ExtraResponse> {
      return ExtraResponse.create(`handled: ${e.payload}`);
    }
  }
  const table = handlerTable(Explicit);
  assert.equal(table.events.get("extra_passthrough")!.passthrough, false);
  assert.equal(table.events.get("forward")!.passthrough, true);

  await using comm = await connect(Explicit);
  await Explicit.sendEvent(ExtraPassthrough.create("x"), comm.consumer!.channelName);
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
    ExtraResponse.create("handled: x"),
  ]);
  await Explicit.sendEvent(Forward.create({ n: 7 }), comm.consumer!.channelName);
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
    Forward.create({ n: 7 }),
  ]);
});

Deno.test("two mixins handling one client action: DefinitionError naming both methods", () => {
  function OtherWsMixin<T extends Base>(B: T) {
    abstract class O extends B {
      @wsHandler(ExtraRequest)
      answerExtra(_m: MessageOf<typeof ExtraRequest>): void {}
    }
    return O;
  }
  class Clash extends OtherWsMixin(WsMixin(Consumer)) {}
  const expected = "Clash has two message handlers for action 'extra_request': answerExtra() and " +
    "handleExtraMessage(). Actions must be unique within a consumer.";
  assert.throws(() => handlerTable(Clash), (e: Error) => {
    assert.ok(e instanceof DefinitionError);
    assert.equal(e.message, expected);
    return true;
  });
  assert.throws(() => new App().ws("/clash", Clash), { message: expected });
});

Deno.test("a mixin's event action handled again by the consumer: DefinitionError (event kind)", () => {
  class Clash extends EventMixin(Consumer) {
    @eventHandler(ExtraEvent)
    onExtra(_e: MessageOf<typeof ExtraEvent>): void {}
  }
  assert.throws(() => new App().ws("/clash", Clash), {
    name: "DefinitionError",
    message: "Clash has two event handlers for action 'extra_event': handleExtraEvent() and " +
      "onExtra(). Actions must be unique within a consumer.",
  });
});

Deno.test("with @channel, a duplicate across mixins fails when the class is defined", () => {
  assert.throws(
    () => {
      @channel({ name: "clash" })
      class Clash extends WsMixin(Consumer) {
        @wsHandler(ExtraRequest)
        handleAgain(_m: MessageOf<typeof ExtraRequest>): void {}
      }
      return Clash;
    },
    (e: Error) =>
      e instanceof DefinitionError &&
      e.message.includes("handleAgain() and handleExtraMessage()"),
  );
});

Deno.test("overriding a mixin's handler method is legal: one handler, the override runs", async () => {
  freshLayer();
  class Overriding extends WsMixin(Consumer) {
    static override layer = ALIAS;
    static override sendCompletion = true;
    override handleExtraMessage(
      m: MessageOf<typeof ExtraRequest>,
    ): MessageOf<typeof ExtraResponse> {
      return ExtraResponse.create(`${m.payload} overridden`);
    }
  }
  assert.deepEqual([...handlerTable(Overriding).ws.keys()], ["extra_request"]);
  await using comm = await connect(Overriding);
  await comm.sendMessage(ExtraRequest.create("x"));
  assert.deepEqual(await comm.receiveAllMessages(), [ExtraResponse.create("x overridden")]);
});

Deno.test("one mixin over two bases: independent classes and tables", () => {
  class ShoutBase extends Consumer {
    @wsHandler(Shout)
    handleShout(_m: MessageOf<typeof Shout>): void {}
  }
  class A extends WsMixin(Consumer) {}
  class B extends WsMixin(ShoutBase) {}
  assert.deepEqual([...handlerTable(A).ws.keys()], ["extra_request"]);
  assert.deepEqual([...handlerTable(B).ws.keys()], ["extra_request", "shout"]);
  assert.notEqual(Object.getPrototypeOf(A), Object.getPrototypeOf(B));
  assert.deepEqual(A.defaultGroups(), ["ws_group"]);
});

Deno.test("plain-JavaScript mixins with registerHandlers compose the same way", async () => {
  freshLayer();
  function JsMixin<T extends Base>(B: T) {
    abstract class Js extends B {
      reply(m: MessageOf<typeof ExtraRequest>) {
        return ExtraResponse.create(`${m.payload} from js`);
      }
      onForward(e: MessageOf<typeof Forward>) {
        return ExtraResponse.create(`forwarded ${e.payload.n}`);
      }
    }
    registerHandlers(Js, {
      reply: onMessage(ExtraRequest, { output: ExtraResponse }),
      onForward: onEvent(Forward, { output: ExtraResponse }),
    });
    return Js;
  }
  class Plain extends JsMixin(Consumer<MessageOf<typeof Forward>>) {
    static override layer = ALIAS;
    static override sendCompletion = true;
    handlePing() {
      return Pong.create();
    }
  }
  registerHandlers(Plain, { handlePing: onMessage(Ping, { output: Pong }) });
  // Sorted by method name: handlePing(), reply().
  assert.deepEqual([...handlerTable(Plain).ws.keys()], ["ping", "extra_request"]);

  await using comm = await connect(Plain);
  await comm.sendMessage(Ping.create());
  assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
  await comm.sendMessage(ExtraRequest.create("hi"));
  assert.deepEqual(await comm.receiveAllMessages(), [ExtraResponse.create("hi from js")]);
  await Plain.sendEvent(Forward.create({ n: 3 }), comm.consumer!.channelName);
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
    ExtraResponse.create("forwarded 3"),
  ]);
});
