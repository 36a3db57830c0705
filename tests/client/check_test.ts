/** checkClientApi: a declared client API must agree with the decorators. */
import assert from "node:assert/strict";
import { Consumer, DefinitionError, type MessageOf, Ping, Pong, wsHandler } from "../../mod.ts";
import { clientApi } from "../../client/mod.ts";
import { checkClientApi, checkClientApis } from "../../client/check.ts";
import { createTestApp, Said, Say, Shouted } from "./fixtures.ts";

Deno.test("checkClientApi: the test app's declared APIs agree with their handlers", () => {
  checkClientApis(createTestApp());
});

Deno.test("checkClientApi: names every mismatch between api and handlers", () => {
  class Drifted extends Consumer {
    static readonly api = clientApi({ send: [Ping, Say], receive: [Said, Shouted] });
    @wsHandler(Ping, { output: Pong })
    handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
      return Pong.create();
    }
  }
  assert.throws(() => checkClientApi(Drifted), (e: unknown) => {
    assert.ok(e instanceof DefinitionError);
    assert.match(e.message, /api\.send lists 'say' but no @wsHandler takes it/);
    assert.match(e.message, /api\.receive lists 'said' but no handler declares it/);
    assert.match(e.message, /api\.receive lists 'shouted'/);
    assert.match(e.message, /'pong' is a declared handler output missing from api\.receive/);
    return true;
  });
  class Undeclared extends Consumer {
    @wsHandler(Ping)
    handlePing(): void {}
  }
  checkClientApi(Undeclared); // nothing declared, nothing to compare
});
