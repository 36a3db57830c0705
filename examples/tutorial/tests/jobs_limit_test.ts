/**
 * Jobs in flight per connection (issue 15 item 7): one socket cannot enqueue without bound; past
 * BackgroundJobConsumer.maxJobsInFlight it gets a `too_many_jobs` error frame, other sockets are
 * unaffected, and finished jobs free their slots.
 */
import "./test_env.ts";
import assert from "node:assert/strict";
import { EVENT_ACTION_COMPLETE, WebsocketCommunicator } from "../../../testing/mod.ts";
import { app } from "../app.ts";
import { BackgroundJobConsumer } from "../background_jobs/consumer.ts";
import { JobMessage } from "../background_jobs/messages.ts";
import { closeJobQueue, createWorker } from "../background_jobs/queue.ts";

// deno-lint-ignore no-explicit-any
const isQueued = (m: { action: string; payload: any }) =>
  m.action === "job_status" && m.payload?.status === "queued";

const connect = () =>
  WebsocketCommunicator.connect(app, "/ws/background_jobs", { consumer: BackgroundJobConsumer });

Deno.test("a connection past maxJobsInFlight gets too_many_jobs; others and finished jobs are fine", async () => {
  const max = BackgroundJobConsumer.maxJobsInFlight;
  assert.equal(max, 5, "default MAX_JOBS_PER_CONNECTION");
  const worker = createWorker();
  try {
    await using greedy = await connect();
    await using other = await connect();
    await greedy.receiveAllMessages({ stopAction: "job_status" });
    await other.receiveAllMessages({ stopAction: "job_status" });
    const attempts = 40; // bounded; the old code queued every one of them
    for (let i = 0; i < attempts; i++) {
      await greedy.sendMessage(JobMessage.create({ type: "translate", content: `x${i}` }));
    }
    const replies = [];
    for (let i = 0; i < attempts; i++) replies.push(...await greedy.receiveAllMessages());
    const queued = replies.filter(isQueued);
    const refused = replies.filter((m) => m.action === "error");
    assert.equal(queued.length, max);
    assert.equal(refused.length, attempts - max);
    assert.deepEqual(refused[0].payload, [{
      type: "too_many_jobs",
      loc: ["payload"],
      msg: `Too many jobs in flight: at most ${max} per connection; wait for a result`,
    }]);
    // Another socket still queues.
    await other.sendMessage(JobMessage.create({ type: "translate", content: "hello" }));
    const mine = await other.receiveAllMessages();
    assert.ok(mine.some(isQueued));
    // Once the worker has run them, the greedy socket has its slots back.
    await worker.runBurst();
    for (let i = 0; i < max; i++) {
      await greedy.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE });
    }
    await greedy.sendMessage(JobMessage.create({ type: "translate", content: "again" }));
    const again = await greedy.receiveAllMessages();
    assert.ok(again.some(isQueued));
    assert.ok(!again.some((m) => m.action === "error"));
  } finally {
    await worker.stop();
    await closeJobQueue();
  }
});
