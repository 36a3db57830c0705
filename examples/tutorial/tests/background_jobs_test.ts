import "./test_env.ts";
import assert from "node:assert/strict";
import type { MessageOf } from "../../../mod.ts";
import { EVENT_ACTION_COMPLETE, WebsocketCommunicator } from "../../../testing/mod.ts";
import { app } from "../app.ts";
import { BackgroundJobConsumer } from "../background_jobs/consumer.ts";
import { JobMessage, JobStatusMessage } from "../background_jobs/messages.ts";
import { closeJobQueue, createWorker } from "../background_jobs/queue.ts";
import { analyzeText, defaultText, generateText } from "../background_jobs/tasks.ts";
import { ExtraEventMessage, ExtraResponseMessage } from "../mixins.ts";

/** The testing chapter's `bg_worker` fixture: a real worker (on Redis when REDIS_URL is set). */
async function withWorker(fn: (bgWorker: ReturnType<typeof createWorker>) => Promise<void>) {
  const bgWorker = createWorker();
  try {
    await fn(bgWorker);
  } finally {
    await bgWorker.stop();
    await closeJobQueue();
  }
}

Deno.test("test_job_success", () =>
  withWorker(async (bgWorker) => {
    await using comm = await WebsocketCommunicator.connect(app, "/ws/background_jobs", {
      consumer: BackgroundJobConsumer,
    });
    // Skip connection message
    await comm.receiveAllMessages({ stopAction: "job_status" });

    // Send job message
    const messageToTranslate = "hello";
    await comm.sendMessage(JobMessage.create({ type: "translate", content: messageToTranslate }));

    // Receive queuing and queued messages
    const replies = await comm.receiveAllMessages();
    assert.equal(replies.length, 2);
    const queuingMsg = replies[0] as MessageOf<typeof JobStatusMessage>;
    assert.equal(queuingMsg.payload["status"], "queuing");
    const queuedMsg = replies[1] as MessageOf<typeof JobStatusMessage>;
    assert.equal(queuedMsg.payload["status"], "queued");

    // Process jobs with a real worker
    await bgWorker.runBurst();

    // Receive job result
    const results = await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE });
    assert.equal(results.length, 1);
    const translatedText = `🌍 Translated: '${messageToTranslate}' → 'hola'`;
    assert.deepEqual(
      results[0],
      JobStatusMessage.create({ status: "result", message: translatedText }),
    );
  }));

Deno.test("every job type, unknown types as default, each result to the connection that asked", () =>
  withWorker(async (bgWorker) => {
    await using a = await WebsocketCommunicator.connect(app, "/ws/background_jobs", {
      consumer: BackgroundJobConsumer,
    });
    await using b = await WebsocketCommunicator.connect(app, "/ws/background_jobs", {
      consumer: BackgroundJobConsumer,
    });
    for (const c of [a, b]) await c.receiveAllMessages({ stopAction: "job_status" });
    const jobs = [
      ["analyze", "Hello world"],
      ["generate", "what about the weather"],
      ["mystery", "stuff"],
    ] as const;
    for (const [type, content] of jobs) {
      await a.sendMessage(JobMessage.create({ type, content }));
      const [queuing, queued] = await a.receiveAllMessages() as MessageOf<
        typeof JobStatusMessage
      >[];
      assert.equal(queuing.payload.message, `⏳ Queuing ${type} job: ${content}`);
      assert.match(String(queued.payload.message), /^📋 Job \S+ queued successfully!/);
    }
    assert.deepEqual(await bgWorker.runBurst(), { completed: 3, failed: 0, retried: 0 });
    const texts = [];
    for (let i = 0; i < jobs.length; i++) {
      const [result] = await a.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE });
      texts.push((result as MessageOf<typeof JobStatusMessage>).payload.message);
    }
    assert.deepEqual(
      texts.sort(),
      [
        analyzeText("Hello world"),
        defaultText("stuff"),
        generateText("what about the weather"),
      ].sort(),
    );
    assert.equal(
      analyzeText("Hello world"),
      "📊 Analysis of 'Hello world':\n• Characters: 11\n• Words: 2\n• Vowels: 3\n• Consonants: 7",
    );
    assert.ok(await b.receiveNothing(), "results go only to the connection that asked");
  }));

Deno.test("extra_event broadcast to the jobs group comes back as extra_response (event-handler mixin)", async () => {
  await using comm = await WebsocketCommunicator.connect(app, "/ws/background_jobs", {
    consumer: BackgroundJobConsumer,
  });
  await comm.receiveAllMessages({ stopAction: "job_status" });
  await BackgroundJobConsumer.broadcastEvent(ExtraEventMessage.create("ping me"));
  assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
    ExtraResponseMessage.create("ping me any extra thing"),
  ]);
});
