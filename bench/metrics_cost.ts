/**
 * `deno run -A bench/metrics_cost.ts [rounds]`: the library's own cost of metrics per frame, with
 * no sockets and no network (issue 23). Two apps in this one process — one with `/metrics`
 * mounted, one without — each drive 50 connections on an in-memory `ServerSocket`; `say`
 * (validated by zod) in, `said` out, 4 frames in flight per connection, like the echo scenario.
 * The apps alternate in short windows so that drift on a shared machine hits both alike. Prints
 * `RESULT {"on":…, "off":…, "ratio":…, "medianRatio":…}`: frames per CPU-second of this process
 * (the work done, less sensitive than wall time to other processes on a shared machine), best and
 * median window of each.
 *
 * @module
 */
import process from "node:process";
import { z } from "zod";
import { App, Consumer, message, type MessageOf, wsHandler } from "../mod.ts";
import { mountMetrics } from "../adapters/metrics/mod.ts";
import type { ConnectionHandle } from "../src/runtime/socket.ts";

const Say = message("say", z.object({ text: z.string(), n: z.number().int() }));
const Said = message(
  "said",
  z.object({ text: z.string(), n: z.number().int() }),
);

class EchoConsumer extends Consumer {
  static override layer = null;
  @wsHandler(Say, { output: Said })
  handleSay(m: MessageOf<typeof Say>) {
    return Said.create(m.payload);
  }
}

const CONNECTIONS = 50;
const WINDOW = 4;
const frame = JSON.stringify({
  action: "say",
  payload: { text: "hello", n: 1 },
});

/** 50 connections of `app`, each resending a frame when a reply arrives, up to a quota. */
async function connections(app: App) {
  let replies = 0;
  let quota = 0;
  let sent = 0;
  let done: (() => void) | undefined;
  const handles: ConnectionHandle[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const decision = await app.upgrade(new Request("http://localhost/echo"));
    if (!decision.accepted) throw new Error("refused");
    const handle: ConnectionHandle = decision.accept({
      send() {
        replies++;
        if (sent < quota) {
          sent++;
          handle.text(frame);
        }
        if (replies === quota) done?.();
      },
      close() {},
      bufferedAmount: 0,
    });
    await handle.opened();
    handles.push(handle);
  }
  return {
    /** Sends `total` frames (4 in flight per connection); resolves with frames per CPU-second. */
    async run(total: number): Promise<number> {
      replies = 0;
      sent = 0;
      quota = total;
      const finished = new Promise<void>((r) => done = r);
      const cpu = process.cpuUsage();
      for (const h of handles) {
        for (let i = 0; i < WINDOW; i++) {
          sent++;
          h.text(frame);
        }
      }
      await finished;
      const used = process.cpuUsage(cpu);
      return total / ((used.user + used.system) / 1e6);
    },
    async close() {
      await Promise.all(handles.map((h) => h.closed(1000)));
    },
  };
}

const rounds = Number(Deno.args[0] ?? 10);
const on = new App().ws("/echo", EchoConsumer);
mountMetrics(on);
const off = new App().ws("/echo", EchoConsumer);
const a = await connections(on);
const b = await connections(off);
await a.run(20_000); // warm up both
await b.run(20_000);
const results = { on: [] as number[], off: [] as number[] };
for (let r = 0; r < rounds; r++) {
  for (
    const [name, c] of r % 2 ? [["off", b], ["on", a]] as const : [["on", a], ["off", b]] as const
  ) {
    results[name].push(await c.run(20_000));
  }
}
await a.close();
await b.close();
const best = (xs: number[]) => Math.max(...xs);
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
console.log(
  `RESULT ${
    JSON.stringify({
      on: best(results.on),
      off: best(results.off),
      ratio: best(results.on) / best(results.off),
      medianOn: median(results.on),
      medianOff: median(results.off),
      medianRatio: median(results.on) / median(results.off),
    })
  }`,
);
