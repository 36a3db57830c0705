/**
 * The fake clock (testing/clock.ts) and the library's timers on it: the clock's own rules, then a
 * 24 h mailbox expiry, the 30 s heartbeat of a real Node server, a 24 h idle timeout, a job lease
 * that expires and retry backoffs of an hour — each in milliseconds of real time.
 */
import assert from "node:assert/strict";
import { App, Consumer, type MessageOf, Ping, Pong, wsHandler } from "@switchboard/switchboard";
import { InMemoryChannelLayer } from "@switchboard/switchboard/adapters/memory";
import { serve } from "@switchboard/switchboard/adapters/node";
import { FakeClock, fakeClock, WebsocketCommunicator } from "@switchboard/switchboard/testing";
import { clock as libraryClock, getClock, systemClock } from "../../src/clock.ts";
import { InMemoryJobQueue } from "../../src/jobs/memory_queue.ts";
import { Worker } from "../../src/jobs/worker.ts";
import { rawWebSocket } from "../helpers/raw_ws.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** `promise`, or a failure naming `what` after `ms` of real time. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return await Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// --- the clock itself ---

Deno.test("FakeClock: timers fire in due order as time advances, intervals repeat, clears hold", async () => {
  using clock = fakeClock({ now: 1_000 });
  assert.equal(getClock(), clock);
  const fired: string[] = [];
  libraryClock.setTimeout(() => fired.push(`b@${clock.now()}`), 200);
  libraryClock.setTimeout(() => fired.push(`a@${clock.now()}`), 100);
  const cleared = libraryClock.setTimeout(() => fired.push("cleared"), 150);
  libraryClock.clearTimeout(cleared);
  const every = libraryClock.setInterval(() => fired.push(`i@${clock.now()}`), 120);
  await clock.advance(99);
  assert.deepEqual(fired, [], "nothing is due before 100 ms");
  await clock.advance(200);
  assert.deepEqual(fired, ["a@1100", "i@1120", "b@1200", "i@1240"]);
  assert.equal(clock.now(), 1_299);
  libraryClock.clearTimeout(every);
  assert.equal(clock.pending, 0);
});

Deno.test("FakeClock: a timer set by a firing timer fires in the same advance when it is due", async () => {
  using clock = fakeClock({ now: 0 });
  const fired: number[] = [];
  libraryClock.setTimeout(() => {
    fired.push(clock.now());
    libraryClock.setTimeout(() => fired.push(clock.now()), 50);
  }, 50);
  await clock.advance(100);
  assert.deepEqual(fired, [50, 100]);
});

Deno.test("FakeClock: promise chains started by a timer run before advance() resolves", async () => {
  using clock = fakeClock();
  let done = false;
  libraryClock.sleep(DAY).then(async () => {
    await Promise.resolve();
    await libraryClock.sleep(0);
    done = true;
  });
  await clock.advance(DAY);
  assert.equal(done, true);
});

Deno.test("FakeClock: runAll fires one-shot timers until none is left and bounds a timer storm", async () => {
  using clock = fakeClock({ now: 0 });
  let count = 0;
  libraryClock.setTimeout(() => count++, 10);
  libraryClock.setTimeout(() => count++, DAY);
  const every = libraryClock.setInterval(() => {}, HOUR); // intervals alone do not keep it going
  // 10 ms, the hourly interval at 1 h … 23 h, then the 24 h timer (set before the interval, so
  // first at 24 h): no one-shot timer is left.
  assert.equal(await clock.runAll(), 2 + 23);
  assert.equal(count, 2);
  assert.equal(clock.now(), DAY);
  libraryClock.clearTimeout(every);
  const again = () => libraryClock.setTimeout(again, 1);
  again();
  await assert.rejects(clock.runAll(100), /more than 100 timers/);
});

Deno.test("FakeClock: sleep rejects with the signal's reason; restore puts the previous clock back", async () => {
  const outer = new FakeClock().install();
  {
    using inner = fakeClock();
    assert.equal(getClock(), inner);
    const controller = new AbortController();
    const slept = libraryClock.sleep(HOUR, controller.signal);
    controller.abort(new Error("stop"));
    await assert.rejects(slept, /stop/);
    assert.equal(inner.pending, 0, "the aborted sleep cleared its timer");
  }
  const [a, b] = [new FakeClock(), new FakeClock()];
  const first = a.setTimeout(() => {}, 10); // timer 1 of a
  b.setTimeout(() => {}, 10); // timer 1 of b
  b.clearTimeout(first); // another clock's handle, with the same number inside: ignored
  assert.deepEqual([a.pending, b.pending], [1, 1]);
  a.clearTimeout(first);
  assert.equal(a.pending, 0);
  assert.equal(getClock(), outer, "nested clocks restore in order");
  outer.restore();
  outer.restore(); // idempotent
  assert.equal(getClock(), systemClock);
  assert.throws(() => new FakeClock({ now: NaN }), TypeError);
});

Deno.test("FakeClock: a real timer set before install is still cleared through the library's clock", () => {
  const real = libraryClock.setTimeout(() => assert.fail("cleared"), 50);
  using _clock = fakeClock();
  libraryClock.clearTimeout(real); // the op sanitizer fails the test if the real timer stays
});

// --- the library's timers on it ---

Deno.test("mailbox: a message waits 24 h less a millisecond, then it expires", async () => {
  using clock = fakeClock();
  const layer = new InMemoryChannelLayer({ expiry: DAY / 1000 });
  try {
    const channel = await layer.newChannel();
    await layer.send(channel, { type: "kept" });
    await layer.send(channel, { type: "dropped" });
    await clock.advance(DAY - 1);
    assert.equal((await layer.receive(channel)).type, "kept");
    await clock.advance(1);
    await layer.send(channel, { type: "fresh" });
    assert.equal((await layer.receive(channel)).type, "fresh");
    assert.equal(layer.dropped.expired, 1);
  } finally {
    await layer.close();
  }
});

Deno.test("heartbeat: a Node server's default 30 s heartbeat drops a silent peer after two periods", async () => {
  using clock = fakeClock();
  class Echo extends Consumer {}
  const server = await serve(new App().ws("/ws", Echo), { port: 0, closeTimeout: 1000 });
  try {
    const silent = await rawWebSocket(server.port, "/ws");
    assert.equal(silent.status, 101);
    let closed = false;
    const gone = silent.closed.then((info) => (closed = true, info));
    await clock.advance(29_999);
    await clock.tick();
    assert.equal(closed, false, "not dropped within the first period");
    await clock.advance(1); // 30 s: pinged
    await clock.advance(30_000); // 60 s: no pong since, dropped
    const { pings } = await within(gone, 5000, "the silent peer was not dropped");
    assert.equal(pings, 1);
    silent.close();
  } finally {
    await server.close({ closeLayers: false });
  }
});

class Pinger extends Consumer {
  static override sendCompletion = true;
  @wsHandler(Ping, { output: Pong })
  ping(): MessageOf<typeof Pong> {
    return Pong.create();
  }
}

Deno.test("idle timeout: a connection silent for 24 h is closed with 1001, not before", async () => {
  using clock = fakeClock();
  const app = new App({ idleTimeoutMs: DAY }).ws("/ws", Pinger);
  await using comm = await WebsocketCommunicator.connect(app, "/ws", { consumer: Pinger });
  await clock.advance(DAY / 2);
  await comm.sendMessage(Ping.create()); // activity: the 24 h start again
  assert.deepEqual(await comm.receiveAllMessages(), [Pong.create()]);
  await clock.advance(DAY - 1);
  assert.equal(comm.closeInfo, undefined, "still open a millisecond before");
  await clock.advance(1);
  assert.equal((await comm.waitForClose()).code, 1001);
});

Deno.test("jobs: a job whose worker died runs again once its 30 s lease expired", async () => {
  using clock = fakeClock();
  const queue = new InMemoryJobQueue();
  const job = await queue.enqueue("work", [21]);
  const lost = await queue.claim("dead-worker.1", 30_000); // claimed, then its worker crashed
  assert.equal(lost.job?.id, job.id);
  const worker = new Worker(queue, {
    functions: { work: (_ctx, n: number) => n * 2 },
    leaseMs: 30_000,
  });
  const running = worker.start();
  try {
    await clock.advance(29_999);
    assert.equal(await job.status(), "running", "the lease still holds");
    await clock.advance(15_001); // expired at 30 s, reaped by the next sweep (every leaseMs / 2)
    assert.equal(await job.result(), 42);
  } finally {
    await worker.stop();
    await running;
    await queue.close();
  }
});

Deno.test("jobs: retries wait out an hour's exponential backoff, then the job completes", async () => {
  using clock = fakeClock();
  const queue = new InMemoryJobQueue();
  const tries: number[] = [];
  const worker = new Worker(queue, {
    functions: {
      flaky: (ctx) => {
        tries.push(clock.now());
        if (ctx.tryNumber < 3) throw new Error(`try ${ctx.tryNumber} fails`);
        return "done";
      },
    },
    retryBackoff: { type: "exponential", delayMs: HOUR, maxDelayMs: DAY },
  });
  const running = worker.start();
  try {
    const started = clock.now();
    const job = await queue.enqueue("flaky", []);
    await clock.tick();
    assert.equal(tries.length, 1);
    await clock.advance(HOUR - 1);
    assert.equal(tries.length, 1, "the first retry waits an hour");
    await clock.advance(1);
    assert.equal(tries.length, 2);
    await clock.advance(2 * HOUR); // the second waits two
    assert.equal(await job.result(), "done");
    assert.deepEqual(tries.map((t) => t - started), [0, HOUR, 3 * HOUR]);
  } finally {
    await worker.stop();
    await running;
    await queue.close();
  }
});

Deno.test("jobs: a delayed job runs a day later, and a try past its timeout is retried", async () => {
  using clock = fakeClock();
  const queue = new InMemoryJobQueue();
  const worker = new Worker(queue, {
    functions: {
      slow: (ctx) =>
        ctx.tryNumber === 1 ? libraryClock.sleep(2 * HOUR, ctx.signal).then(() => "late") : "ok",
    },
    jobTimeoutMs: HOUR,
    retryBackoff: { type: "fixed", delayMs: 1000 },
  });
  const running = worker.start();
  try {
    const job = await queue.enqueue("slow", [], { delay: DAY });
    await clock.advance(DAY - 1);
    assert.equal(await job.status(), "delayed");
    await clock.advance(1); // due: try 1 starts and hangs
    assert.equal(await job.status(), "running");
    await clock.advance(HOUR + 1000); // timed out after an hour, retried a second later
    assert.equal(await job.result(), "ok");
  } finally {
    await worker.stop();
    await running;
    await queue.close();
  }
});
