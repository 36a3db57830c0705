/** The test kit's TCP proxy: forwards, holds while paused, drops every connection, closes. */
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { TcpProxy } from "../../testing/mod.ts";
import { connect, echoServer } from "../helpers/echo_tcp.ts";

function nextData(s: Socket): Promise<string> {
  return new Promise((resolve) => s.once("data", (d) => resolve(d.toString())));
}

Deno.test("TcpProxy: forwards, holds while paused, drops every connection, closes", async () => {
  const echo = await echoServer();
  const proxy = await TcpProxy.start(echo.port);
  try {
    assert.match(proxy.url("redis"), /^redis:\/\/127\.0\.0\.1:\d+$/);
    const a = await connect(proxy.port);
    await proxy.waitForConnections(1);
    a.write("one");
    assert.equal(await nextData(a), "one");

    proxy.pause();
    const late = nextData(a);
    a.write("two");
    await proxy.waitForHeld();
    assert.equal(proxy.heldBytes, 3);
    let arrived = false;
    late.then(() => arrived = true);
    await new Promise((r) => setTimeout(r, 50)); // nothing may come through meanwhile
    assert.equal(arrived, false, "a paused proxy forwarded bytes");
    proxy.resume();
    assert.equal(await late, "two");

    const closed = new Promise((r) => a.once("close", r));
    assert.equal(proxy.connections, 1);
    assert.equal(proxy.dropAll(), 1);
    await closed;
    assert.equal(proxy.connections, 0);

    // New connections are accepted after a drop.
    const b = await connect(proxy.port);
    b.write("three");
    assert.equal(await nextData(b), "three");
    assert.equal(proxy.accepted, 2);
    b.destroy();
  } finally {
    await proxy.close();
    await echo.close();
  }
});
