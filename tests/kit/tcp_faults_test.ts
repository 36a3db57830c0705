/** The TCP fault proxy's one-line faults: freeze, cut, refuse, heal, added latency. */
import assert from "node:assert/strict";
import { createConnection, type Socket } from "node:net";
import { TcpProxy } from "../../testing/mod.ts";
import { connect, echoServer } from "../helpers/echo_tcp.ts";

/** Reads until `expected` bytes arrived. */
function read(s: Socket, expected: number): Promise<string> {
  return new Promise((resolve) => {
    let data = "";
    const on = (d: Uint8Array) => {
      data += new TextDecoder().decode(d);
      if (data.length >= expected) {
        s.off("data", on);
        resolve(data);
      }
    };
    s.on("data", on);
  });
}

async function withProxy(fn: (proxy: TcpProxy) => Promise<void>): Promise<void> {
  const echo = await echoServer();
  const proxy = await TcpProxy.start(echo.port);
  try {
    await fn(proxy);
  } finally {
    await proxy.close();
    await echo.close();
  }
}

Deno.test("TcpProxy.freeze holds bytes until heal; cut closes every connection", async () => {
  await withProxy(async (proxy) => {
    const a = await connect(proxy.port);
    proxy.freeze();
    assert.equal(proxy.paused, true);
    const echoed = read(a, 4);
    a.write("held");
    await proxy.waitForHeld();
    assert.equal(proxy.heldBytes, 4);
    proxy.heal();
    assert.equal(await echoed, "held");
    const closed = new Promise((r) => a.once("close", r));
    assert.equal(proxy.cut(), 1);
    await closed;
    assert.equal(proxy.connections, 0);
  });
});

Deno.test("TcpProxy.refuse closes new connections at once, leaves open ones; heal undoes it", async () => {
  await withProxy(async (proxy) => {
    const open = await connect(proxy.port);
    await proxy.waitForConnections(1);
    proxy.refuse();
    assert.equal(proxy.refusing, true);
    const refused = createConnection({ host: "127.0.0.1", port: proxy.port });
    refused.on("error", () => {});
    let got = "";
    refused.on("data", (d) => got += d.toString());
    refused.on("connect", () => refused.write("lost"));
    await new Promise((r) => refused.once("close", r));
    assert.equal(got, "", "a refused connection was forwarded");
    assert.equal(proxy.refused, 1);
    assert.equal(proxy.accepted, 1, "a refused connection counted as accepted");
    // The connection opened before still works.
    const echoed = read(open, 2);
    open.write("ok");
    assert.equal(await echoed, "ok");
    proxy.heal();
    const b = await connect(proxy.port);
    const again = read(b, 5);
    b.write("again");
    assert.equal(await again, "again");
    open.destroy();
    b.destroy();
  });
});

Deno.test("TcpProxy.latency delays each direction, keeps the order; heal removes it", async () => {
  await withProxy(async (proxy) => {
    const a = await connect(proxy.port);
    const roundTrip = async (text: string) => {
      const start = performance.now();
      const echoed = read(a, text.length);
      a.write(text);
      assert.equal(await echoed, text);
      return performance.now() - start;
    };
    proxy.latency(80); // both directions: at least 160 ms a round trip
    assert.deepEqual(proxy.addedLatency, { toUpstream: 80, toClient: 80 });
    assert.ok((await roundTrip("x")) >= 158);
    proxy.latency({ toUpstream: 0 }); // only the way back now
    assert.ok((await roundTrip("y")) >= 78);
    // Chunks written in a row arrive in order, all delayed.
    const echoed = read(a, 30);
    for (let i = 0; i < 10; i++) a.write(String(i).padStart(3, "0"));
    assert.equal(
      await echoed,
      Array.from({ length: 10 }, (_, i) => String(i).padStart(3, "0")).join(""),
    );
    assert.throws(() => proxy.latency(-1), RangeError);
    proxy.heal();
    assert.deepEqual(proxy.addedLatency, { toUpstream: 0, toClient: 0 });
    // Dropping with delayed chunks in flight leaves no timer behind (the sanitizer checks).
    proxy.latency(1000);
    a.write("pending");
    await new Promise((r) => setTimeout(r, 20)); // let the chunk reach the proxy
    const closed = new Promise((r) => a.once("close", r));
    proxy.cut();
    await closed;
  });
});
