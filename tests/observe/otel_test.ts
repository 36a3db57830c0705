/**
 * Tracing (issue 23, adapters/otel): one trace spans a client frame → the job it enqueues → the
 * worker in another process → the result event → the frame pushed to the socket, carried by W3C
 * `traceparent` across the Redis job queue and the Redis layer; checked with the SDK's
 * InMemorySpanExporter in both processes. Also: the traceparent helpers, and that the library
 * without tracing never loads `@opentelemetry/api`.
 */
import assert from "node:assert/strict";
import { context, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { contextOf } from "../../adapters/otel/tracing.ts";
import {
  currentTraceparent,
  installTracing,
  traceFunctions,
  traceLayer,
  traceQueue,
} from "../../adapters/otel/mod.ts";
import { RedisJobQueue, RedisPubSubChannelLayer } from "../../adapters/redis/mod.ts";
import { InMemoryChannelLayer, InMemoryJobQueue } from "../../adapters/memory/mod.ts";
import { App, layers, Worker } from "../../mod.ts";
import { serveForTests, skipUnless, startRedis, WebsocketCommunicator } from "../../testing/mod.ts";
import {
  ALIAS,
  functions,
  record,
  setupOtel,
  type SpanRecord,
  TracedJobConsumer,
  useQueue,
  Work,
} from "./fixtures/traced_jobs.ts";

const ROOT = new URL("../../", import.meta.url);

Deno.test("traceparent: read back as the remote parent; malformed ones are refused", () => {
  const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const ctx = contextOf(tp)!;
  const sc = trace.getSpanContext(ctx)!;
  assert.equal(sc.traceId, "0af7651916cd43dd8448eb211c80319c");
  assert.equal(sc.spanId, "b7ad6b7169203331");
  assert.equal(sc.isRemote, true);
  for (
    const bad of [
      "",
      "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "00-" + "0".repeat(32) + "-b7ad6b7169203331-01",
      "00-xyz",
    ]
  ) {
    assert.equal(contextOf(bad), undefined, bad);
  }
  assert.equal(
    context.with(ROOT_CONTEXT, () => currentTraceparent()),
    undefined,
  );
});

Deno.test("the library without ./otel never loads @opentelemetry/api", async () => {
  for (
    const entry of [
      "mod.ts",
      "adapters/metrics/mod.ts",
      "adapters/inspector/mod.ts",
      "adapters/redis/mod.ts",
    ]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", "deno.test.json", entry],
      cwd: ROOT,
      stdout: "piped",
      stderr: "null",
    }).output();
    const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: Array<{ specifier: string }>;
    };
    const ours = graph.modules.filter((m) => m.specifier.includes("/adapters/otel/"));
    assert.deepEqual(ours, [], `${entry} loads the otel adapter`);
  }
});

Deno.test({
  name: "one trace: client frame → job → worker (second process) → result pushed to the socket",
  ignore: skipUnless("redis"),
  async fn() {
    await using redis = await startRedis();
    const prefix = `otel-${crypto.randomUUID().slice(0, 8)}`;
    const eventSpanEnded = Promise.withResolvers<void>();
    const otel = setupOtel((span) => {
      if (span.name === "layer switchboard.event") eventSpanEnded.resolve();
    });
    const uninstall = installTracing();
    const layer = new RedisPubSubChannelLayer({ url: redis.url, prefix });
    layers.register(ALIAS, traceLayer(layer));
    const queue = traceQueue(
      new RedisJobQueue({ url: redis.url, prefix: `${prefix}:jobs` }),
    );
    useQueue(queue);
    try {
      const app = new App().ws("/traced", TracedJobConsumer);
      await using server = await serveForTests(app);
      await using client = await WebsocketCommunicator.connect(app, "/traced", {
        url: server.url,
      });
      await client.sendMessage(Work.create({ text: "hello" }));
      assert.deepEqual(await client.receiveJson(), {
        action: "complete",
        payload: null,
      });

      const worker = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--config",
          "deno.test.json",
          "tests/observe/fixtures/otel_worker.ts",
        ],
        cwd: ROOT,
        env: { REDIS_URL: redis.url, PREFIX: prefix },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(worker.stdout);
      assert.equal(worker.code, 0, new TextDecoder().decode(worker.stderr));
      assert.match(out, /BURST \{"completed":1,"failed":0,"retried":0\}/);
      const workerSpans = JSON.parse(
        out.match(/^SPANS (.*)$/m)![1],
      ) as SpanRecord[];

      assert.deepEqual(await client.receiveJson(), {
        action: "done",
        payload: { text: "HELLO" },
      });
      await eventSpanEnded.promise;
      await otel.flush();
      const serverSpans = otel.exporter.getFinishedSpans().map(record);
      const frame = serverSpans.find((s) => s.name === "ws work");
      const job = workerSpans.find((s) => s.name === "job shout");
      const event = serverSpans.find((s) => s.name === "layer switchboard.event");
      assert.ok(
        frame && job && event,
        JSON.stringify({ serverSpans, workerSpans }),
      );
      assert.equal(
        frame.parentSpanId,
        undefined,
        "the client frame starts the trace",
      );
      assert.equal(
        job.traceId,
        frame.traceId,
        "the job continues the frame's trace",
      );
      assert.equal(
        job.parentSpanId,
        frame.spanId,
        "the job's parent is the frame's span",
      );
      assert.equal(
        event.traceId,
        frame.traceId,
        "the result event is in the same trace",
      );
      assert.equal(
        event.parentSpanId,
        job.spanId,
        "the event's parent is the job's span",
      );
    } finally {
      uninstall();
      await queue.close();
      await layers.closeAll();
      layers.unregister(ALIAS);
      await otel.shutdown();
    }
  },
});

Deno.test("one trace in one process: in-memory layer and queue, a topic-less event back to the socket", async () => {
  const eventSpanEnded = Promise.withResolvers<void>();
  const otel = setupOtel((span) => {
    if (span.name === "layer switchboard.event") eventSpanEnded.resolve();
  });
  const uninstall = installTracing();
  layers.register(ALIAS, traceLayer(new InMemoryChannelLayer()));
  const queue = traceQueue(new InMemoryJobQueue());
  useQueue(queue);
  try {
    const app = new App().ws("/traced", TracedJobConsumer);
    await using client = await WebsocketCommunicator.connect(app, "/traced");
    await client.sendMessage(Work.create({ text: "in process" }));
    assert.deepEqual(await client.receiveJson(), { action: "complete", payload: null });
    const burst = await new Worker(queue, { functions: traceFunctions(functions) }).runBurst();
    assert.equal(burst.completed, 1);
    assert.deepEqual(await client.receiveJson(), {
      action: "done",
      payload: { text: "IN PROCESS" },
    });
    await eventSpanEnded.promise;
    await otel.flush();
    const spans = otel.exporter.getFinishedSpans().map(record);
    const frame = spans.find((s) => s.name === "ws work")!;
    const job = spans.find((s) => s.name === "job shout")!;
    const event = spans.find((s) => s.name === "layer switchboard.event")!;
    assert.equal(new Set([frame.traceId, job.traceId, event.traceId]).size, 1);
    assert.equal(job.parentSpanId, frame.spanId);
    assert.equal(event.parentSpanId, job.spanId);
  } finally {
    uninstall();
    await queue.close();
    layers.unregister(ALIAS);
    await otel.shutdown();
  }
});
