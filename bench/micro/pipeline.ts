/**
 * CPU per frame of the core's pipeline without sockets: a validated `say` in, a typed `said`
 * back, through `app.upgrade` → `accept` → `handle.text` with a socket that only counts. Run on
 * Bun or Deno: `bun --tsconfig-override=bun.tsconfig.json run bench/micro/pipeline.ts` /
 * `deno run -A bench/micro/pipeline.ts`. Prints µs of CPU per frame (best of 5 rounds).
 *
 * @module
 */
import process from "node:process";
import { z } from "zod";
import { App, Consumer, message, type MessageOf, wsHandler } from "../../mod.ts";

const Say = message("say", z.object({ text: z.string(), n: z.number().int() }));
const Said = message("said", z.object({ text: z.string(), n: z.number().int() }));

class Echo extends Consumer {
  static override layer: null = null;
  @wsHandler(Say, { output: Said })
  handleSay(m: MessageOf<typeof Say>) {
    return Said.create(m.payload);
  }
}

const app = new App().ws("/echo", Echo);
const decision = await app.upgrade(new Request("http://localhost/echo"));
if (!decision.accepted) throw new Error("refused");
let sent = 0;
let wake: () => void = () => {};
let target = 0;
const handle = decision.accept({
  send() {
    if (++sent === target) wake();
  },
  close() {},
  bufferedAmount: 0,
});
await handle.opened();
const frame = JSON.stringify({ action: "say", payload: { text: "hello", n: 1 } });
const N = 50_000;
const results: number[] = [];
for (let round = 0; round < 5; round++) {
  sent = 0;
  target = N;
  const done = new Promise<void>((r) => (wake = r));
  const t0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    handle.text(frame);
    if (i % 500 === 499) await new Promise((r) => setTimeout(r, 0)); // within the pending budget
  }
  await done;
  const t = process.cpuUsage(t0);
  results.push((t.user + t.system) / N);
}
console.log(
  `pipeline: ${Math.min(...results).toFixed(2)} µs CPU per frame (rounds ${
    results.map((r) => r.toFixed(2)).join(", ")
  })`,
);
await handle.closed(1000);
