// Baseline: BullMQ job round trip on Node — Queue.add → Worker processes → QueueEvents "completed".
//
// node bench/servers/bullmq.mjs --warmup MS --duration MS --inflight N --latency-jobs N
// (REDIS_URL) prints `RESULT {json}`:
// - latency: one job at a time, add → completed event seen by the producer (p50/p99);
// - throughput: `inflight` jobs kept in flight (worker concurrency = inflight), completed/s.
// The worker runs in this process, as a Switchboard worker would run in its server process.
import { Queue, QueueEvents, Worker } from "bullmq";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const warmup = arg("warmup", 1000);
const duration = arg("duration", 4000);
const inflight = arg("inflight", 50);
const latencyJobs = arg("latency-jobs", 500);
const url = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const connection = {
  host: url.hostname,
  port: Number(url.port || 6379),
  maxRetriesPerRequest: null,
};
const name = `bench-${process.pid}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const queue = new Queue(name, { connection });
const events = new QueueEvents(name, { connection });
const worker = new Worker(
  name,
  (job) => Promise.resolve({ echo: job.data.text, n: job.data.n }),
  {
    connection,
    concurrency: inflight,
  },
);
await Promise.all([
  queue.waitUntilReady(),
  events.waitUntilReady(),
  worker.waitUntilReady(),
]);

const pending = new Map(); // job id → resolve
events.on("completed", ({ jobId }) => {
  const done = pending.get(jobId);
  if (done) {
    pending.delete(jobId);
    done();
  }
});
const opts = { removeOnComplete: true, removeOnFail: true };
let n = 0;
async function roundTrip() {
  const t = performance.now();
  let resolve;
  const completed = new Promise((r) => (resolve = r));
  const job = await queue.add("echo", { text: "hello, world", n: n++ }, opts);
  pending.set(job.id, resolve);
  await completed;
  return performance.now() - t;
}

// Latency: one at a time.
for (let i = 0; i < Math.min(50, latencyJobs); i++) await roundTrip(); // warm-up
const lat = [];
const latDeadline = performance.now() + Math.max(duration, 2000);
for (let i = 0; i < latencyJobs && performance.now() < latDeadline; i++) {
  lat.push(await roundTrip());
}
lat.sort((a, b) => a - b);

// Throughput: `inflight` loops.
let running = true;
let measuring = false;
let count = 0;
const loops = Array.from({ length: inflight }, async () => {
  while (running) {
    await roundTrip();
    if (measuring) count++;
  }
});
await sleep(warmup);
measuring = true;
const t0 = performance.now();
await sleep(duration);
measuring = false;
const seconds = (performance.now() - t0) / 1000;
running = false;
await Promise.all(loops);

const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
console.log(`RESULT ${
  JSON.stringify({
    p50: q(0.5),
    p99: q(0.99),
    latencySamples: lat.length,
    jobsPerSec: count / seconds,
    count,
    seconds,
  })
}`);
await worker.close();
await events.close();
await queue.obliterate({ force: true }).catch(() => {});
await queue.close();
process.exit(0);
