/**
 * A bench "server" process for the interested-only scenario (bench/scenarios/interested.ts): a
 * Redis pub/sub layer (standalone REDIS_URL, or REDIS_CLUSTER_URLS) whose members join the groups
 * listed in GROUPS (MEMBERS channels each) and, with SINK_GROUPS, one more channel in each of
 * those groups (a process that hears groups it does not serve, as with one broadcast channel per
 * app). Prints `READY 0` once joined, then `DONE {json}` when EXPECTED deliveries reached its own
 * members (or nothing arrived for 3 s): own and sink deliveries, and the CPU time this process
 * used from READY to then.
 *
 * @module
 */
import process from "node:process";
import { RedisPubSubChannelLayer } from "../../adapters/redis/mod.ts";

const env = (name: string) => Deno.env.get(name) ?? "";
const list = (name: string) => env(name).split(",").filter(Boolean);
const clusterUrls = list("REDIS_CLUSTER_URLS");
const layer = new RedisPubSubChannelLayer({
  ...(clusterUrls.length ? { cluster: { rootNodes: clusterUrls } } : { url: env("REDIS_URL") }),
  prefix: env("PREFIX") || "bench",
  capacity: 100_000,
});
const expected = Number(env("EXPECTED"));
const members = Number(env("MEMBERS") || "5");
let own = 0;
let sink = 0;
let last = Date.now();

async function drain(channel: string, onOne: () => void): Promise<void> {
  for (;;) {
    try {
      await layer.receive(channel);
    } catch {
      return; // closed
    }
    onOne();
  }
}

for (const group of list("GROUPS")) {
  for (let i = 0; i < members; i++) {
    const channel = await layer.newChannel();
    await layer.groupAdd(group, channel);
    drain(channel, () => (own++, last = Date.now()));
  }
}
for (const group of list("SINK_GROUPS")) {
  const channel = await layer.newChannel();
  await layer.groupAdd(group, channel);
  drain(channel, () => sink++);
}
const start = process.cpuUsage();
console.log("READY 0");
await new Promise<void>((resolve) => {
  const check = () => {
    if (own >= expected || (own > 0 && Date.now() - last > 3000)) resolve();
    else setTimeout(check, 50);
  };
  check();
});
const cpu = process.cpuUsage(start);
console.log(
  `DONE ${
    JSON.stringify({
      own,
      sink,
      heard: layer.heard,
      cpuMs: (cpu.user + cpu.system) / 1000,
    })
  }`,
);
await new Promise((r) => setTimeout(r, 100));
await layer.close();
Deno.exit(0);
