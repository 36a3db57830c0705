/**
 * JS heap per idle connection in the core, without sockets: 5,000 connections to an ordinary
 * consumer on the default in-memory layer (a layer channel and a receive loop each), through
 * `app.upgrade` → `accept` → `opened` with sockets that only count, heap read after a GC. The
 * library's share of bench/scenarios/idle.ts without the runtime's own WebSocket objects.
 * `deno run -A --v8-flags=--expose-gc bench/micro/idle.ts [connections]`.
 *
 * @module
 */
import { App, Consumer, type MessageOf, Ping, Pong, wsHandler } from "../../mod.ts";
import type { ServerSocket } from "../../src/runtime/socket.ts";

class Idle extends Consumer {
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>) {
    return Pong.create();
  }
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");
const N = Number(Deno.args[0] ?? 5000);
const app = new App().ws("/idle", Idle);
const socket = (): ServerSocket => ({ send() {}, close() {}, bufferedAmount: 0 });
const heap = async () => {
  await new Promise((r) => setTimeout(r, 50));
  gc();
  gc();
  return Deno.memoryUsage().heapUsed;
};
// Warm up (modules, the layer, the route), then measure.
const warm = await app.upgrade(new Request("http://localhost/idle"));
if (warm.accepted) await warm.accept(socket()).opened();
const before = await heap();
const handles = [];
for (let i = 0; i < N; i++) {
  const decision = await app.upgrade(new Request("http://localhost/idle"));
  if (!decision.accepted) throw new Error("refused");
  const handle = decision.accept(socket());
  await handle.opened();
  handles.push(handle);
}
const after = await heap();
console.log(`idle: ${((after - before) / N).toFixed(0)} B of JS heap per connection (${N})`);
for (const h of handles) await h.closed(1000);
await app.close();
