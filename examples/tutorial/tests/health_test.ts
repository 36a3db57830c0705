/**
 * The readiness check and startup settings (issue 17): `GET /healthz` is 200 only when every layer
 * and the job queue answer, 503 naming what failed otherwise (real Redis, killed); a REDIS_URL
 * without a scheme stops `deno task dev` at startup with a clear message.
 */
import { CHILD_ENV } from "./test_env.ts";
import assert from "node:assert/strict";
import { App, type ChannelLayer } from "../../../mod.ts";
import { InMemoryChannelLayer, InMemoryJobQueue } from "../../../adapters/memory/mod.ts";
import { RedisJobQueue, RedisPubSubChannelLayer } from "../../../adapters/redis/mod.ts";
import { app, createApp } from "../app.ts";
import { mountHealth } from "../health.ts";
import {
  checkSettings,
  maxConnections,
  redisUrl,
  SettingsError,
  withSettings,
} from "../settings.ts";
import { hasRedisServer, RedisServer } from "../../../tests/helpers/redis_servers.ts";

const ROOT = new URL("../../../", import.meta.url);

async function healthz(target: App) {
  const response = await target.handleHttp(new Request("http://127.0.0.1/healthz"));
  return { status: response.status, body: await response.json() };
}

Deno.test("GET /healthz on the tutorial app: 200 with every layer and the job queue checked", async () => {
  const { status, body } = await healthz(app);
  assert.equal(status, 200);
  assert.equal(body.status, "ok");
  assert.deepEqual(body.failed, []);
  assert.deepEqual(Object.keys(body.checks).sort(), [
    "jobs",
    "layer:analytics",
    "layer:chat",
    "layer:notifications",
    "layer:queue",
  ]);
});

Deno.test("GET /healthz: a layer that fails or never answers makes it 503, named, within the timeout", async () => {
  const hanging = new InMemoryChannelLayer();
  hanging.groupSend = () => new Promise(() => {}); // a paused backend
  const failing = new InMemoryChannelLayer();
  failing.groupSend = () => Promise.reject(new Error("connection refused"));
  const queue = new InMemoryJobQueue();
  const target = mountHealth(new App(), {
    layers: {
      good: () => new InMemoryChannelLayer(),
      hanging: () => hanging as ChannelLayer,
      failing: () => failing as ChannelLayer,
    },
    queue: () => queue,
    timeoutMs: 100,
  });
  const { status, body } = await healthz(target);
  assert.equal(status, 503);
  assert.equal(body.status, "unavailable");
  assert.deepEqual(body.failed.sort(), ["layer:failing", "layer:hanging"]);
  assert.equal(body.checks["layer:hanging"].error, "no answer within 100 ms");
  assert.equal(body.checks["layer:failing"].error, "connection refused");
  assert.equal(body.checks.jobs.ok, true);
  await queue.close();
});

Deno.test({
  name:
    "GET /healthz on real Redis: 200, then 503 naming the layer and the queue once Redis is killed",
  ignore: !(await hasRedisServer()),
  sanitizeOps: false, // probes that timed out settle when Redis is back
  sanitizeResources: false,
  async fn() {
    const redis = await new RedisServer().start();
    const prefix = `health-${crypto.randomUUID().slice(0, 8)}`;
    const layer = new RedisPubSubChannelLayer({ url: redis.url, prefix });
    const queue = new RedisJobQueue({ url: redis.url, prefix: `${prefix}:jobs` });
    const options = { layers: { chat: () => layer }, queue: () => queue };
    // The first check also connects: give it time on a busy machine. Once Redis is gone, a short
    // bound keeps the test quick.
    const patient = mountHealth(new App(), { ...options, timeoutMs: 10_000 });
    const quick = mountHealth(new App(), { ...options, timeoutMs: 500 });
    try {
      let { status, body } = await healthz(patient);
      assert.equal(status, 200, JSON.stringify(body));
      await redis.stop();
      ({ status, body } = await healthz(quick));
      assert.equal(status, 503);
      assert.deepEqual(body.failed.sort(), ["jobs", "layer:chat"]);
    } finally {
      await redis.start();
      await layer.close();
      await queue.close();
      await redis.stop();
    }
  },
});

Deno.test("REDIS_URL without a scheme: a SettingsError, and deno task dev exits at startup saying so", async () => {
  // withSettings, not Deno.env: other test files read the process's environment meanwhile.
  withSettings({ REDIS_URL: "localhost:6379" }, () => {
    assert.throws(() => redisUrl(), SettingsError);
    assert.throws(() => redisUrl(), /REDIS_URL=redis:\/\/localhost:6379/);
  });
  withSettings({ REDIS_URL: "redis://127.0.0.1:6390/2" }, () => {
    assert.equal(redisUrl(), "redis://127.0.0.1:6390/2");
  });
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "dev"],
    cwd: ROOT.pathname,
    env: { ...CHILD_ENV, REDIS_URL: "127.0.0.1:6379", PORT: "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 1, stderr);
  assert.match(
    stderr,
    /Cannot start the tutorial: REDIS_URL="127\.0\.0\.1:6379" is not a Redis URL/,
  );
  assert.match(stderr, /REDIS_URL=redis:\/\/127\.0\.0\.1:6379/);
});

Deno.test("MAX_CONNECTIONS: default 10,000, a positive integer, checked at startup, the App's maxConnections", () => {
  withSettings({ MAX_CONNECTIONS: undefined }, () => {
    assert.equal(maxConnections(), 10_000);
  });
  assert.equal(app.options.maxConnections, 10_000, "the tutorial app is capped by default");
  withSettings({ MAX_CONNECTIONS: " 250 " }, () => {
    assert.equal(maxConnections(), 250);
    assert.equal(createApp().options.maxConnections, 250);
  });
  for (const bad of ["0", "-3", "1.5", "ten", "1e400", "x".repeat(5000)]) {
    withSettings({ MAX_CONNECTIONS: bad }, () => {
      assert.throws(() => maxConnections(), SettingsError, bad.slice(0, 20));
      assert.throws(() => checkSettings(), /MAX_CONNECTIONS must be a positive integer/);
      const message = (() => {
        try {
          maxConnections();
        } catch (e) {
          return (e as Error).message;
        }
      })()!;
      assert.ok(message.length < 400, `bounded message (${message.length} chars)`);
    });
  }
});
