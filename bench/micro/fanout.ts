/**
 * CPU per delivery of the core's group fan-out without sockets: a `shout` on `/sender` is
 * broadcast with `broadcastMessage` to 1,000 members of group `room` on the in-memory layer,
 * through `app.upgrade` → `accept` → `handle.text` with sockets that only count. Run on Bun or Deno:
 * `deno run -A bench/micro/fanout.ts [members]`. Prints µs of CPU per delivery (best of 8
 * rounds), the library's share of bench/scenarios/fanout.ts without the sockets' own cost.
 *
 * @module
 */
import process from "node:process";
import { z } from "zod";
import { App, Consumer, message, type MessageOf, wsHandler } from "../../mod.ts";
import type { ServerSocket } from "../../src/runtime/socket.ts";

const Shout = message("shout", z.object({ text: z.string(), n: z.number().int() }));
const Said = message("said", z.object({ text: z.string(), n: z.number().int() }));

class Room extends Consumer {
  static override groups = ["room"];
}

class Sender extends Consumer {
  @wsHandler(Shout)
  async handleShout(m: MessageOf<typeof Shout>) {
    await this.broadcastMessage(Said.create(m.payload), { groups: "room" });
  }
}

const MEMBERS = Number(Deno.args[0] ?? 1000);
const app = new App().ws("/room", Room).ws("/sender", Sender);
let delivered = 0;
let target = 0;
let wake: () => void = () => {};
const counting: ServerSocket = {
  send() {
    if (++delivered === target) wake();
  },
  close() {},
  bufferedAmount: 0,
};
async function connect(path: string) {
  const decision = await app.upgrade(new Request(`http://localhost${path}`));
  if (!decision.accepted) throw new Error("refused");
  const handle = decision.accept(counting);
  await handle.opened();
  return handle;
}
const members = [];
for (let i = 0; i < MEMBERS; i++) members.push(await connect("/room"));
const sender = await connect("/sender");
const frame = JSON.stringify({ action: "shout", payload: { text: "hello", n: 1 } });
const BROADCASTS = 200;
const results: number[] = [];
for (let round = 0; round < 8; round++) {
  delivered = 0;
  target = BROADCASTS * MEMBERS;
  const done = new Promise<void>((r) => (wake = r));
  const t0 = process.cpuUsage();
  for (let i = 0; i < BROADCASTS; i++) {
    sender.text(frame);
    if (i % 4 === 3) await new Promise((r) => setTimeout(r, 0)); // 4 in flight, as the scenario
  }
  await done;
  const t = process.cpuUsage(t0);
  results.push((t.user + t.system) / target);
}
console.log(
  `fan-out: ${Math.min(...results).toFixed(3)} µs CPU per delivery, ${MEMBERS} members (rounds ${
    results.map((r) => r.toFixed(3)).join(", ")
  })`,
);
for (const m of [...members, sender]) await m.closed(1000);
await app.close();
