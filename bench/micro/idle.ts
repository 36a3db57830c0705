/**
 * JS heap per idle connection in the core, without sockets: 5,000 connections to an ordinary
 * consumer on the default in-memory layer (a layer channel and a receive loop each), through
 * `app.upgrade` → `accept` → `opened` with sockets that only count, heap read after a GC. The
 * library's share of bench/scenarios/idle.ts without the runtime's own WebSocket objects.
 * `deno run -A --v8-flags=--expose-gc bench/micro/idle.ts [connections] [--alloc]`; `--alloc` also
 * prints what connecting allocates (garbage included), by library function, from V8's sampling
 * heap profiler.
 *
 * @module
 */
import { App, Consumer, type MessageOf, Ping, Pong, wsHandler } from "../../mod.ts";
import type { ServerSocket } from "../../src/runtime/socket.ts";
import { Session } from "node:inspector";

class Idle extends Consumer {
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>) {
    return Pong.create();
  }
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");
const N = Number(Deno.args.find((a) => !a.startsWith("--")) ?? 5000);
const ALLOC = Deno.args.includes("--alloc");
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
const session = new Session();
const post = (method: string, params = {}) =>
  new Promise<unknown>((resolve, reject) =>
    session.post(method, params, (e: Error | null, r: unknown) => e ? reject(e) : resolve(r))
  );
if (ALLOC) {
  session.connect();
  await post("HeapProfiler.enable");
  await post("HeapProfiler.startSampling", {
    samplingInterval: 128,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}
const handles = [];
for (let i = 0; i < N; i++) {
  const decision = await app.upgrade(new Request("http://localhost/idle"));
  if (!decision.accepted) throw new Error("refused");
  const handle = decision.accept(socket());
  await handle.opened();
  handles.push(handle);
}
if (ALLOC) {
  interface Frame {
    callFrame: { functionName: string; url: string; lineNumber: number };
    selfSize: number;
    children: Frame[];
  }
  const { profile } = await post("HeapProfiler.stopSampling") as { profile: { head: Frame } };
  const by = new Map<string, number>();
  let total = 0;
  const walk = (f: Frame, lib: string | undefined) => {
    const { functionName, url, lineNumber } = f.callFrame;
    const here = `${functionName || "(anonymous)"} ${
      url.replace(/^.*\/(src|adapters|bench)\//, "$1/")
    }:${lineNumber + 1}`;
    const own = /\/(src|adapters)\//.test(url) ? here : lib;
    const key = own ? (own === here ? own : `${own} → ${here}`) : here;
    by.set(key, (by.get(key) ?? 0) + f.selfSize);
    total += f.selfSize;
    for (const c of f.children) walk(c, own);
  };
  walk(profile.head, undefined);
  console.log(`idle: ${(total / N).toFixed(0)} B allocated per connection while connecting`);
  for (const [key, size] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    if (size / N >= 8) console.log(`${(size / N).toFixed(0).padStart(8)} B  ${key}`);
  }
  session.disconnect();
}
const after = await heap();
console.log(`idle: ${((after - before) / N).toFixed(0)} B of JS heap per connection (${N})`);
for (const h of handles) await h.closed(1000);
await app.close();
