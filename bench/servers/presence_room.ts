/**
 * The presence bench (issue #22), in one process: `--members` connections in one room, each
 * tracked with diffs on (`intervalMs` 250), then `--rate` joins per second (new connections) for
 * `--seconds`. Sockets are the in-process kind (the app's upgrade and accept, a counting `send`),
 * so the numbers are the server's work without a network. Prints `RESULT {json}`: diff frames per
 * member socket per second, the join rate reached, server CPU (% of one core) during the window,
 * and `presenceStats` latency (p50/p99, ms) measured during the window and after it.
 *
 * `--redis <url>` runs it on the Redis backend instead of the in-memory one.
 *
 * @module
 */
import process from "node:process";
import {
  App,
  Consumer,
  type PresenceBackend,
  presenceBackends,
  type PresenceOptions,
} from "../../mod.ts";
import { RedisPresence } from "../../adapters/redis/mod.ts";

const arg = (name: string, fallback: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 ? fallback : Deno.args[i + 1];
};
const members = Number(arg("members", "10000"));
const rate = Number(arg("rate", "100"));
const seconds = Number(arg("seconds", "3"));
const redisUrl = arg("redis", "");

let backend: PresenceBackend = presenceBackends.get();
if (redisUrl) {
  backend = new RedisPresence({ url: redisUrl, prefix: `bench${Date.now()}` });
  presenceBackends.register("default", backend);
}

class Room extends Consumer {
  static override groups = ["room"];
  static override presence: PresenceOptions<Room> = {
    key: (c) => c.query.get("k")!,
    diffs: true,
  };
}
const app = new App({ idleTimeoutMs: 0 }).ws("/ws/room", Room);

let memberFrames = 0;
let joinerFrames = 0;
async function connect(key: string, member: boolean): Promise<void> {
  const decision = await app.upgrade(
    new Request(`http://localhost/ws/room?k=${key}`, {
      headers: { upgrade: "websocket" },
    }),
  );
  if (!decision.accepted) {
    throw new Error(`refused: ${decision.response.status}`);
  }
  const handle = decision.accept({
    send: member ? () => memberFrames++ : () => joinerFrames++,
    close() {},
    bufferedAmount: 0,
  });
  await handle.opened();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[
    Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))
  ] ?? NaN;
};

const t0 = performance.now();
for (let i = 0; i < members; i += 200) {
  await Promise.all(
    Array.from(
      { length: Math.min(200, members - i) },
      (_, j) => connect(`m${i + j}`, true),
    ),
  );
}
const connectSeconds = (performance.now() - t0) / 1000;
// Let the joins of the setup drain (their diff frames are not counted).
await sleep(1000);
memberFrames = 0;

const statsDuring: number[] = [];
let joins = 0;
const cpu0 = process.cpuUsage();
const start = performance.now();
const end = start + seconds * 1000;
const pending: Promise<void>[] = [];
let nextStats = start;
while (performance.now() < end) {
  const due = Math.floor(((performance.now() - start) / 1000) * rate);
  while (joins < due) pending.push(connect(`j${joins++}`, false));
  if (performance.now() >= nextStats) {
    const t = performance.now();
    await backend.stats("room");
    statsDuring.push(performance.now() - t);
    nextStats += 20;
  }
  await sleep(5);
}
await Promise.all(pending);
const wall = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpu0);
const framesPerSocketPerSecond = memberFrames / members / wall;

const statsAfter: number[] = [];
for (let i = 0; i < 1000; i++) {
  const t = performance.now();
  const s = await backend.stats("room");
  statsAfter.push(performance.now() - t);
  if (s.keys !== members + joins) {
    throw new Error(`stats: ${JSON.stringify(s)}`);
  }
}

console.log(`RESULT ${
  JSON.stringify({
    members,
    joinsPerSecond: joins / wall,
    framesPerSocketPerSecond,
    cpuPercent: ((cpu.user + cpu.system) / 1000 / (wall * 1000)) * 100,
    statsDuringP50: pct(statsDuring, 50),
    statsDuringP99: pct(statsDuring, 99),
    statsP50: pct(statsAfter, 50),
    statsP99: pct(statsAfter, 99),
    connectSeconds,
    heapMiB: Deno.memoryUsage().heapUsed / 2 ** 20,
  })
}`);
Deno.exit(0);
