/**
 * Metrics (issue 23): the registry's bounds, and `/metrics` read by a real Prometheus text-format
 * parser after traffic on real sockets: connections, frames by action (unknown actions under one
 * label), error frames by type, handler durations, broadcasts and layer receipts, close codes,
 * job outcomes and the queue depth; the token's 401/403.
 */
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import {
  metricsOf,
  MetricsRegistry,
  mountMetrics,
  OVERFLOW_LABEL,
  renderPrometheus,
  ServerMetrics,
} from "../../adapters/metrics/mod.ts";
import { InMemoryJobQueue } from "../../adapters/memory/mod.ts";
import { RedisJobQueue } from "../../adapters/redis/mod.ts";
import { skipUnless, startRedis } from "../../testing/mod.ts";
import { Worker } from "../../src/jobs/worker.ts";
import {
  App,
  assert,
  Consumer,
  type MessageOf,
  serveForTests,
  WebsocketCommunicator,
  wsHandler,
} from "../core/deps.ts";
import { ALIAS, EchoConsumer, freshLayer, Say, Shout } from "../core/fixtures.ts";

interface Parsed {
  name: string;
  type: string;
  help: string;
  metrics: Array<{
    labels?: Record<string, string>;
    value?: string;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }>;
}

/** The last scrape's text (labelled histograms are read from it: the parser flattens them). */
let lastText = "";

async function scrape(
  base: string,
  headers: Record<string, string> = {},
): Promise<Parsed[]> {
  const response = await fetch(`${base}/metrics`, { headers });
  assert.equal(response.status, 200);
  assert.match(
    response.headers.get("content-type") ?? "",
    /^text\/plain; version=0\.0\.4/,
  );
  lastText = await response.text();
  return parsePrometheusTextFormat(lastText) as Parsed[];
}

/** A labelled histogram's `_count` in the last scrape (`labels` as written, e.g. `action="say"`). */
function histogramCount(name: string, labels: string): number {
  const line = lastText.split("\n").find((l) => l.startsWith(`${name}_count{${labels}} `));
  assert.ok(line, `no ${name}_count{${labels}}`);
  return Number(line.split(" ")[1]);
}

function sample(
  parsed: Parsed[],
  name: string,
  labels: Record<string, string> = {},
) {
  const family = parsed.find((f) => f.name === name);
  assert.ok(family, `no metric ${name}`);
  return family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
}

function value(
  parsed: Parsed[],
  name: string,
  labels: Record<string, string> = {},
): number {
  return Number(sample(parsed, name, labels)?.value ?? 0);
}

Deno.test("a family past maxChildren puts new label values under one overflow child", () => {
  const registry = new MetricsRegistry();
  const codes = registry.counter("codes_total", "Codes.", {
    labelNames: ["code"],
    maxChildren: 3,
  });
  for (let i = 0; i < 1000; i++) codes.get(String(i)).inc();
  const children = codes.children();
  assert.equal(children.length, 4); // 3 + the overflow child
  const overflow = children.find((c) => c.values[0] === OVERFLOW_LABEL);
  assert.equal(overflow?.child.value, 997);
  assert.equal(codes.get("1").value, 1);
});

Deno.test("histograms are written with cumulative buckets, _sum and _count; labels escaped", () => {
  const registry = new MetricsRegistry();
  const h = registry.histogram("took_seconds", "Took\nlong \\ short.", {
    buckets: [0.1, 1],
  });
  h.get("").observe(0.05);
  h.get("").observe(0.5);
  h.get("").observe(5);
  const c = registry.counter("odd_total", "Odd labels.", {
    labelNames: ["what"],
  });
  c.get('a "b"\n\\').inc(2);
  const text = renderPrometheus(registry);
  const parsed = parsePrometheusTextFormat(text) as Parsed[];
  assert.equal(parsed[0].type, "HISTOGRAM");
  assert.equal(parsed[0].help, "Took\nlong \\ short.");
  const m = parsed[0].metrics[0];
  assert.deepEqual(m.buckets, { "0.1": "1", "1": "2", "+Inf": "3" });
  assert.equal(Number(m.count), 3);
  assert.equal(Number(m.sum), 5.55);
  assert.deepEqual(parsed[1].metrics[0], {
    labels: { what: 'a "b"\n\\' },
    value: "2",
  });
  // Labelled histograms: the parser checks every line, but keeps only unlabelled ones' buckets.
  h.get("");
  const labelled = registry.histogram("by_seconds", "By.", {
    labelNames: ["a"],
    buckets: [1],
  });
  labelled.get("x").observe(2);
  parsePrometheusTextFormat(renderPrometheus(registry));
  assert.match(
    renderPrometheus(registry),
    /^by_seconds_bucket\{a="x",le="\+Inf"\} 1$/m,
  );
});

Deno.test("/metrics reflects the traffic of real sockets, read by a Prometheus parser", async () => {
  freshLayer();
  const app = new App().ws("/echo", EchoConsumer);
  const metrics = mountMetrics(app, { timeEvery: 1 });
  const queue = new InMemoryJobQueue();
  metrics.watchQueue(queue);
  const laterQueue = new InMemoryJobQueue();
  metrics.watchQueue(laterQueue, "later");
  await using server = await serveForTests(app);
  const base = server.url.replace("ws:", "http:");

  await using a = await WebsocketCommunicator.connect(app, "/echo", {
    consumer: EchoConsumer,
    url: server.url,
  });
  await using b = await WebsocketCommunicator.connect(app, "/echo", {
    consumer: EchoConsumer,
    url: server.url,
  });
  for (let i = 0; i < 3; i++) {
    await a.sendMessage(Say.create({ text: `hi ${i}` }));
    assert.equal((await a.receiveJson() as { action: string }).action, "said");
    assert.equal(
      (await a.receiveJson() as { action: string }).action,
      "complete",
    );
  }
  await a.sendJson({ action: "no_such_action_1", payload: null });
  await a.receiveJson();
  await a.receiveJson();
  await a.sendJson({ action: "no_such_action_2", payload: null });
  await a.receiveJson();
  await a.receiveJson();
  await a.sendText("not json");
  await a.receiveJson();
  await a.receiveJson();
  await a.sendMessage(Shout.create({ text: "all", exclude: false }));
  for (const comm of [a, b]) {
    // a gets its complete and the relay in either order; b the relay and group_complete
    const actions = [await comm.receiveJson(), await comm.receiveJson()].map((
      f,
    ) => (f as { action: string }).action);
    assert.ok(actions.includes("shouted"), actions.join());
  }
  await queue.enqueue("add", [1, 2]);
  await laterQueue.enqueue("later", [], { delay: 60_000 });

  let parsed = await scrape(base);
  assert.equal(
    value(parsed, "switchboard_connections_open", { consumer: "EchoConsumer" }),
    2,
  );
  assert.equal(value(parsed, "switchboard_connections_opened_total"), 2);
  assert.equal(
    value(parsed, "switchboard_frames_received_total", { action: "say" }),
    3,
  );
  assert.equal(
    value(parsed, "switchboard_frames_received_total", { action: "unknown" }),
    2,
  );
  assert.equal(
    parsed.find((f) => f.name === "switchboard_frames_received_total")!.metrics
      .length,
    3, // say, unknown, shout: client action names never become labels
  );
  assert.equal(
    value(parsed, "switchboard_frames_sent_total", { action: "said" }),
    3,
  );
  assert.equal(
    value(parsed, "switchboard_frames_sent_total", { action: "shouted" }),
    2,
  );
  assert.ok(
    value(parsed, "switchboard_frames_sent_total", { action: "complete" }) >= 7,
  );
  assert.equal(
    value(parsed, "switchboard_error_frames_total", {
      type: "union_tag_invalid",
    }),
    2,
  );
  assert.equal(
    value(parsed, "switchboard_error_frames_total", { type: "json_invalid" }),
    1,
  );
  assert.ok(value(parsed, "switchboard_sent_bytes_total") > 100);
  assert.equal(
    histogramCount("switchboard_handler_duration_seconds", 'action="say"'),
    3,
  );
  assert.match(
    lastText,
    /^switchboard_handler_duration_seconds_bucket\{action="say",le="\+Inf"\} 3$/m,
  );
  assert.equal(value(parsed, "switchboard_layer_published_total"), 1);
  assert.equal(
    value(parsed, "switchboard_layer_received_total", {
      type: "switchboard.group",
    }),
    2,
  );
  assert.equal(
    Number(sample(parsed, "switchboard_layer_lag_seconds")?.count),
    2,
  );
  assert.equal(
    value(parsed, "switchboard_job_queue_depth", { state: "queued" }),
    1,
  );
  assert.equal(
    value(parsed, "switchboard_job_queue_depth", {
      queue: "default",
      state: "queued",
    }),
    1,
  );
  assert.equal(
    value(parsed, "switchboard_job_queue_depth", {
      queue: "later",
      state: "delayed",
    }),
    1,
  );
  assert.equal(metrics.recentErrors.length, 3);
  assert.equal(metrics.recentErrors[2].type, "json_invalid");

  // Told once the connection is gone (after onDisconnect and the layer's cleanup).
  const gone = Promise.withResolvers<void>();
  const closed = metrics.closed.bind(metrics);
  metrics.closed = (connection, code) => {
    closed(connection, code);
    gone.resolve();
  };
  await a.disconnect(4321);
  await gone.promise;
  const worker = new Worker(queue, {
    functions: { add: (_ctx, x: number, y: number) => x + y },
    observer: metrics.jobs,
  });
  assert.equal((await worker.runBurst()).completed, 1);
  parsed = await scrape(base);
  assert.equal(
    value(parsed, "switchboard_connections_open", { consumer: "EchoConsumer" }),
    1,
  );
  assert.equal(
    value(parsed, "switchboard_connections_closed_total", {
      consumer: "EchoConsumer",
      code: "4321",
    }),
    1,
  );
  assert.equal(
    value(parsed, "switchboard_jobs_finished_total", {
      name: "add",
      outcome: "completed",
    }),
    1,
  );
  assert.equal(
    histogramCount("switchboard_job_duration_seconds", 'name="add"'),
    1,
  );
  assert.equal(
    value(parsed, "switchboard_job_queue_depth", { state: "queued" }),
    0,
  );
  await queue.close();
  await laterQueue.close();
});

Deno.test("/metrics behind a token: 401 without it, 403 with another, 200 with it", async () => {
  const app = new App();
  mountMetrics(app, { token: "s3cret" });
  await using server = await serveForTests(app);
  const url = `${server.url.replace("ws:", "http:")}/metrics`;
  const none = await fetch(url);
  await none.body?.cancel();
  assert.equal(none.status, 401);
  assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
  const wrong = await fetch(url, { headers: { authorization: "Bearer nope" } });
  await wrong.body?.cancel();
  assert.equal(wrong.status, 403);
  const parsed = await scrape(server.url.replace("ws:", "http:"), {
    authorization: "Bearer s3cret",
  });
  assert.ok(parsed.some((f) => f.name === "switchboard_connections_open"));
  assert.equal(metricsOf(app), metricsOf(app));
});

Deno.test({
  name: "RedisJobQueue.depth() counts queued, delayed and running jobs (a private Redis)",
  ignore: skipUnless("redis"),
  async fn() {
    await using redis = await startRedis();
    const queue = new RedisJobQueue({ url: redis.url, prefix: "depth-test" });
    try {
      assert.deepEqual(await queue.depth(), { queued: 0, delayed: 0, running: 0 });
      await queue.enqueue("a", []);
      await queue.enqueue("b", []);
      await queue.enqueue("c", [], { delay: 60_000 });
      assert.deepEqual(await queue.depth(), { queued: 2, delayed: 1, running: 0 });
      const claimed = await queue.claim("token-1", 30_000);
      assert.ok(claimed.job);
      assert.deepEqual(await queue.depth(), { queued: 1, delayed: 1, running: 1 });
    } finally {
      await queue.close();
    }
  },
});

Deno.test("hooks: layer health from its events, recovery outcomes and presence sizes", () => {
  const metrics = new ServerMetrics();
  let emit: (event: { type: string; reason: string }) => void = () => {};
  const unwatch = metrics.watchLayer("chat", {
    onEvent(listener) {
      emit = listener;
      return () => emit = () => {};
    },
  });
  const text = () => parsePrometheusTextFormat(renderPrometheus(metrics.registry)) as Parsed[];
  assert.equal(value(text(), "switchboard_layer_up", { layer: "chat" }), 1);
  emit({ type: "disconnected", reason: "redis down" });
  assert.equal(value(text(), "switchboard_layer_up", { layer: "chat" }), 0);
  assert.equal(metrics.layers.get("chat")?.reason, "redis down");
  emit({ type: "resync", reason: "back" });
  assert.equal(value(text(), "switchboard_layer_up", { layer: "chat" }), 1);
  unwatch();
  assert.equal(metrics.layers.size, 0);
  metrics.recovery("recovered");
  metrics.recovery("recovered");
  metrics.recovery("resync");
  for (let i = 0; i < 50; i++) metrics.recovery(`made-up-${i}`);
  metrics.presence(3, 41);
  const parsed = text();
  assert.equal(value(parsed, "switchboard_recoveries_total", { outcome: "recovered" }), 2);
  assert.equal(value(parsed, "switchboard_recoveries_total", { outcome: OVERFLOW_LABEL }), 32);
  assert.equal(value(parsed, "switchboard_presence_groups"), 3);
  assert.equal(value(parsed, "switchboard_presence_members"), 41);
});

Deno.test("frames are byte-identical with metrics on and off (raw socket text)", async () => {
  freshLayer();
  const texts: string[][] = [];
  for (const withMetrics of [false, true]) {
    const app = new App().ws("/echo", EchoConsumer);
    if (withMetrics) mountMetrics(app, { timeEvery: 1 });
    await using server = await serveForTests(app);
    const ws = new WebSocket(`${server.url}/echo`);
    const got: string[] = [];
    const two = Promise.withResolvers<void>();
    ws.onmessage = (e) => {
      got.push(String(e.data));
      if (got.length === 2) two.resolve();
    };
    await new Promise((resolve) => ws.onopen = resolve);
    ws.send(JSON.stringify({ action: "say", payload: { text: "same" } }));
    await two.promise;
    const closed = new Promise((resolve) => ws.onclose = resolve);
    ws.close();
    await closed;
    texts.push(got);
  }
  assert.deepEqual(texts[1], texts[0]);
  assert.equal(texts[0][0], '{"action":"said","payload":{"text":"same"}}');
});

Deno.test("recovery outcomes of history streams are counted by outcome", async () => {
  const layer = freshLayer();
  const group = `hist-${crypto.randomUUID().slice(0, 8)}`;
  class Chat extends Consumer {
    static override layer = ALIAS;
    static override groups = [group];
    static override history = { size: 2, ttlMs: 60_000 };
    @wsHandler(Say)
    async handleSay(m: MessageOf<typeof Say>) {
      await this.broadcastMessage(Say.create(m.payload));
    }
  }
  const app = new App().ws("/chat", Chat);
  mountMetrics(app);
  await using server = await serveForTests(app);
  const frame = async (c: WebsocketCommunicator) =>
    await c.receiveJson({ timeout: 5000 }) as { payload: { position: { epoch: string } } };
  const sender = await WebsocketCommunicator.connect(app, "/chat");
  const { epoch } = (await frame(sender)).payload.position; // history_position
  const path = (offset: number) =>
    `/chat?recover=${
      encodeURIComponent(JSON.stringify({ groups: { [group]: { offset, epoch } } }))
    }`;
  await sender.sendMessage(Say.create({ text: "one" }));
  await frame(sender);
  const back = await WebsocketCommunicator.connect(app, path(0)); // replays "one": recovered
  await frame(back);
  assert.equal((await frame(back) as unknown as { action: string }).action, "history_recovery");
  for (const text of ["two", "three", "four"]) {
    await sender.sendMessage(Say.create({ text }));
    await frame(sender);
  }
  const late = await WebsocketCommunicator.connect(app, path(0)); // "one" trimmed (size 2)
  assert.equal((await frame(late) as unknown as { action: string }).action, "history_recovery");
  const parsed = await scrape(server.url.replace("ws:", "http:"));
  assert.equal(value(parsed, "switchboard_recoveries_total", { outcome: "recovered" }), 1);
  assert.equal(value(parsed, "switchboard_recoveries_total", { outcome: "trimmed" }), 1);
  for (const c of [sender, back, late]) await c.disconnect();
  await app.close();
  await layer.close();
});

Deno.test("presence sizes of this process are read at each scrape", async () => {
  const layer = freshLayer();
  const group = `seen-${crypto.randomUUID().slice(0, 8)}`;
  class Hall extends Consumer {
    static override layer = ALIAS;
    static override groups = [group];
    static override presence = {};
  }
  const app = new App().ws("/hall", Hall);
  mountMetrics(app);
  await using server = await serveForTests(app);
  const base = server.url.replace("ws:", "http:");
  const a = await WebsocketCommunicator.connect(app, "/hall");
  const b = await WebsocketCommunicator.connect(app, "/hall");
  await a.sendMessage({ action: "ping", payload: null }); // postAuthentication (tracking) ran
  await a.receiveJson({ timeout: 5000 });
  await b.sendMessage({ action: "ping", payload: null });
  await b.receiveJson({ timeout: 5000 });
  let parsed = await scrape(base);
  assert.equal(value(parsed, "switchboard_presence_members"), 2);
  assert.equal(value(parsed, "switchboard_presence_groups"), 1);
  await b.disconnect();
  parsed = await scrape(base);
  assert.equal(value(parsed, "switchboard_presence_members"), 1);
  await a.disconnect();
  await app.close();
  await layer.close();
});
