/**
 * checkClientApi: what a typed client trusts (`static api = clientApi({ send })`, `static
 * broadcasts`) must agree with the decorators; replies need no declaration (return types).
 */
import assert from "node:assert/strict";
import {
  type AnyMessageType,
  Consumer,
  DefinitionError,
  eventHandler,
  message,
  type MessageOf,
  Ping,
  Pong,
  wsHandler,
} from "../../mod.ts";
import { clientApi } from "../../client/mod.ts";
import { checkClientApi, checkClientApis } from "../../client/check.ts";
import { createTestApp, Said, Say, Shout, Shouted } from "./fixtures.ts";

Deno.test("checkClientApi: the test app's declared APIs agree with their handlers", () => {
  checkClientApis(createTestApp());
});

Deno.test("checkClientApi: names every mismatch between api/broadcasts and handlers", () => {
  class Drifted extends Consumer {
    static readonly api = clientApi({ send: [Ping, Say] });
    static override broadcasts = [Said, Shouted];
    @wsHandler(Ping, { output: Pong })
    handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
      return Pong.create();
    }
    @wsHandler(Shout)
    handleShout(_m: MessageOf<typeof Shout>): void {}
  }
  assert.throws(() => checkClientApi(Drifted), (e: unknown) => {
    assert.ok(e instanceof DefinitionError);
    assert.match(e.message, /api\.send lists 'say' but no @wsHandler takes it/);
    assert.match(e.message, /@wsHandler for 'shout' is missing from api\.send/);
    assert.match(e.message, /broadcasts lists 'said' but no handler declares it as an output/);
    assert.match(e.message, /broadcasts lists 'shouted'/);
    return true;
  });
  class Undeclared extends Consumer {
    @wsHandler(Ping)
    handlePing(): void {}
  }
  checkClientApi(Undeclared); // nothing declared, nothing to compare
});

Deno.test("checkClientApi: one source of truth — replies are not listed again; broadcasts are outputs", () => {
  const Nudge = message("nudge");
  // The api lists sends only; the `pong` reply and the event's `said` reply are declared once, as
  // outputs (the old check wanted them repeated in a `receive` list); `shouted` is a broadcast
  // that a handler declares as its output.
  class OneSource extends Consumer<MessageOf<typeof Nudge>> {
    static readonly api = clientApi({ send: [Ping, Shout] });
    static override broadcasts = [Shouted];
    @wsHandler(Ping, { output: Pong })
    handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
      return Pong.create();
    }
    @wsHandler(Shout, { output: Shouted })
    async handleShout(m: MessageOf<typeof Shout>): Promise<void> {
      await this.broadcastMessage(Shouted.create({ text: m.payload.text }));
    }
    @eventHandler(Nudge, { output: Said })
    handleNudge(_m: MessageOf<typeof Nudge>): MessageOf<typeof Said> {
      return Said.create({ text: "nudged", loud: false });
    }
  }
  checkClientApi(OneSource);
});

Deno.test("checkClientApi: a hand-made api with the old receive list, or bad broadcasts, is refused", () => {
  class Old extends Consumer {
    static readonly api = { send: [Ping], receive: [Pong] };
    @wsHandler(Ping, { output: Pong })
    handlePing(): MessageOf<typeof Pong> {
      return Pong.create();
    }
  }
  assert.throws(() => checkClientApi(Old), /has a 'receive' list: list what the consumer sends/);
  class Bad extends Consumer {
    static override broadcasts = ["said"] as unknown as [];
  }
  assert.throws(() => checkClientApi(Bad), /broadcasts must list message types/);
});

Deno.test("checkClientApi: static broadcasts merge across subclasses, like passthroughEvents", () => {
  const Extra = message("extra");
  class Base extends Consumer {
    static override broadcasts: readonly AnyMessageType[] = [Said];
    @eventHandler(Shout, { output: Said })
    onShout(_m: MessageOf<typeof Shout>): void {}
  }
  // The subclass lists only what it adds: the parent's Said is still checked (and still produced).
  class Child extends Base {
    static override broadcasts = [Extra];
    @eventHandler(Say, { output: Extra })
    onSay(_m: MessageOf<typeof Say>): void {}
  }
  checkClientApi(Child);
  // A parent's entry that the subclass cannot produce is caught through the subclass.
  class Orphan extends Consumer {
    static override broadcasts: readonly AnyMessageType[] = [Shouted];
  }
  class OrphanChild extends Orphan {
    static override broadcasts = [Extra];
    @eventHandler(Say, { output: Extra })
    onSay(_m: MessageOf<typeof Say>): void {}
  }
  assert.throws(
    () => checkClientApi(OrphanChild),
    /OrphanChild disagrees with its handlers: broadcasts lists 'shouted'/,
  );
  // A bad list anywhere in the chain is named.
  class BadParent extends Consumer {
    static override broadcasts = ["said"] as unknown as AnyMessageType[];
  }
  class GoodChild extends BadParent {
    static override broadcasts = [Said];
  }
  assert.throws(() => checkClientApi(GoodChild), /BadParent\.broadcasts must list message types/);
});
