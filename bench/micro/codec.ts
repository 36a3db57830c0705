/**
 * Is JSON a large share of a frame's cost? `deno run -A --config deno.test.json bench/micro/codec.ts` measures, in one
 * run, the CPU per frame of the JSON work the core does for an echo (one `JSON.parse` of the
 * client's frame, one `JSON.stringify` of the reply) and for a fan-out message (one
 * `JSON.stringify` per group), against the same work with MessagePack (`@msgpack/msgpack`, the
 * binary encoding the speed issue names), and against the whole pipeline's cost per frame
 * (bench/micro/pipeline.ts, run here as a child process). Prints µs per frame (best of 5 rounds)
 * and JSON's share of the pipeline; a last `RESULT {…}` line is what `deno task bench --only codec`
 * (bench/scenarios/codec.ts) reads.
 *
 * @module
 */
import process from "node:process";
import { decode, encode } from "@msgpack/msgpack";
import { Packr } from "msgpackr";

/** msgpackr, the fastest MessagePack for JavaScript we know of, in its default (record-free) mode. */
const packr = new Packr({ useRecords: false });

const echoIn = { action: "say", payload: { text: "hello", n: 1 } };
const echoOut = { action: "said", payload: { text: "hello", n: 1 }, meta: { id: "a1b2c3" } };
const chat = {
  action: "chat",
  payload: { room: "lobby", user: "user-0042", text: "x".repeat(120), sentAt: 1764672000000 },
};

/** µs of CPU per call of `work`, best of 5 rounds of `n` calls. */
function cpuPerCall(n: number, work: () => unknown): number {
  let best = Infinity;
  let sink = 0;
  for (let round = 0; round < 5; round++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) sink += work() ? 1 : 0;
    const t = process.cpuUsage(t0);
    best = Math.min(best, (t.user + t.system) / n);
  }
  if (sink < 0) console.log(sink);
  return best;
}

/** Calls per round: the first argument (the bench's `--quick` smoke passes a small one). */
const N = Number(Deno.args[0] ?? 200_000);
const echoInText = JSON.stringify(echoIn);
const echoInBytes = encode(echoIn);
const echoInPackr = packr.pack(echoIn);
const rows: [string, number, number, number][] = [
  [
    "echo: decode the frame + encode the reply",
    cpuPerCall(N, () => JSON.parse(echoInText) && JSON.stringify(echoOut)),
    cpuPerCall(N, () => decode(echoInBytes) && encode(echoOut)),
    cpuPerCall(N, () => packr.unpack(echoInPackr) && packr.pack(echoOut)),
  ],
  [
    "fan-out: encode one message (once per group)",
    cpuPerCall(N, () => JSON.stringify(chat)),
    cpuPerCall(N, () => encode(chat)),
    cpuPerCall(N, () => packr.pack(chat)),
  ],
  [
    "client: decode one fan-out message",
    cpuPerCall(N, () => JSON.parse(JSON.stringify(chat))) -
    cpuPerCall(N, () => JSON.stringify(chat)),
    cpuPerCall(N, () => decode(encode(chat))) - cpuPerCall(N, () => encode(chat)),
    cpuPerCall(N, () => packr.unpack(packr.pack(chat))) - cpuPerCall(N, () => packr.pack(chat)),
  ],
];

const pipeline = await new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL("./pipeline.ts", import.meta.url).pathname],
  stdout: "piped",
}).output();
const pipelineText = new TextDecoder().decode(pipeline.stdout);
const perFrame = Number(/([\d.]+) µs/.exec(pipelineText)?.[1]);

console.log(
  "| µs of CPU per frame | JSON | @msgpack/msgpack | msgpackr | best MessagePack / JSON |",
);
console.log("| --- | --- | --- | --- | --- |");
for (const [name, json, pack, packR] of rows) {
  console.log(
    `| ${name} | ${json.toFixed(3)} | ${pack.toFixed(3)} | ${packR.toFixed(3)} | ${
      (Math.min(pack, packR) / json).toFixed(2)
    }× |`,
  );
}
console.log(
  `\nbytes: echo frame ${echoInText.length} JSON / ${echoInBytes.length} MessagePack; chat ${
    JSON.stringify(chat).length
  } / ${encode(chat).length}`,
);
if (Number.isFinite(perFrame)) {
  console.log(
    `whole echo pipeline: ${perFrame} µs per frame; JSON's share of it: ${
      (100 * rows[0][1] / perFrame).toFixed(1)
    } %`,
  );
} else console.log(`pipeline output not understood:\n${pipelineText}`);
console.log(`RESULT ${JSON.stringify({ rows, perFrame })}`);
