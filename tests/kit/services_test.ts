/** The fault kit's private servers: Redis and NATS with race-free ports, pause, restart, flush. */
import assert from "node:assert/strict";
import {
  NatsServer,
  RedisServer,
  skipReason,
  skipUnless,
  startNats,
  startRedis,
} from "../../testing/mod.ts";

const sanitize = { sanitizeOps: true, sanitizeResources: true };

Deno.test({
  name: "startRedis: a private server; restart with and without data; flush; stop",
  ignore: skipUnless("redis"),
  ...sanitize,
  fn: async () => {
    await using redis = await startRedis();
    assert.match(redis.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await redis.command("SET k v"), "+OK");
    await redis.restart({ keepData: true });
    assert.equal(await redis.command("EXISTS k"), ":1", "keepData lost the key");
    await redis.restart();
    assert.equal(await redis.command("EXISTS k"), ":0", "a plain restart kept the data");
    assert.equal(await redis.command("SET k v"), "+OK");
    await redis.flush();
    assert.equal(await redis.command("DBSIZE"), ":0");
    await redis.stop();
    assert.equal(redis.running, false);
    await assert.rejects(redis.command("PING"));
  },
});

Deno.test({
  name: "startRedis: pause(ms) holds every answer until it continues by itself",
  ignore: skipUnless("redis"),
  ...sanitize,
  fn: async () => {
    await using redis = await startRedis();
    const continued = redis.pause(300);
    assert.equal(redis.paused, true);
    // Answered, and only once continued. (Not "no answer within 100 ms" against the 300 ms: a
    // starved test process can send its PING after the server continued; failed once so.)
    const answeredWhilePaused = redis.command("PING", 10_000).then(() => redis.paused);
    assert.equal(await answeredWhilePaused, false);
    await continued;
    assert.equal(redis.paused, false);
    assert.equal(await redis.command("PING"), "+PONG");
    redis.pause();
    await assert.rejects(redis.command("PING", 100), /no answer/);
    redis.resume();
    assert.equal(await redis.command("PING"), "+PONG");
  },
});

Deno.test({
  name: "startRedis: a port taken meanwhile is detected, not mistaken for our server",
  ignore: skipUnless("redis"),
  ...sanitize,
  fn: async () => {
    await using first = await startRedis();
    // The race of freePort(): a second server is told a port another one got. Given as the
    // preferred port it moves to another one; given as the port it fails loudly.
    await using second = await startRedis({ preferredPort: first.port });
    assert.notEqual(second.port, first.port);
    assert.equal(await second.command("SET only-second 1"), "+OK");
    assert.equal(await first.command("EXISTS only-second"), ":0");
    const fixed = new RedisServer({ port: first.port });
    await assert.rejects(fixed.start(), /did not start on 127\.0\.0\.1/);
    await fixed.close();
    // Many at once: all distinct, each answering itself.
    const many = await Promise.all(Array.from({ length: 6 }, () => startRedis()));
    try {
      assert.equal(new Set(many.map((s) => s.port)).size, 6);
    } finally {
      await Promise.all(many.map((s) => s.close()));
    }
  },
});

Deno.test({
  name: "startNats: JetStream with a private store; keepData keeps streams, flush deletes them",
  ignore: skipUnless("nats"),
  ...sanitize,
  fn: async () => {
    await using nats = await startNats();
    assert.match(nats.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    const create = (name: string) => ({
      subject: `$JS.API.STREAM.CREATE.${name}`,
      body: JSON.stringify({ name, subjects: [`${name}.>`], storage: "file" }),
    });
    const names = async () =>
      ((await nats.jetStreamApi([{ subject: "$JS.API.STREAM.NAMES" }]))[0] as {
        streams: string[] | null;
      }).streams ?? [];
    await nats.jetStreamApi([create("orders")]);
    assert.deepEqual(await names(), ["orders"]);
    await nats.restart({ keepData: true });
    assert.deepEqual(await names(), ["orders"], "keepData lost the stream");
    await nats.restart();
    assert.deepEqual(await names(), [], "a plain restart kept the store");
    await nats.jetStreamApi([create("a"), create("b")]);
    await nats.flush();
    assert.deepEqual(await names(), []);
    nats.pause();
    await assert.rejects(nats.jetStreamApi([{ subject: "$JS.API.INFO" }], 100), /did not answer/);
    nats.resume();
    // pause(ms) continues by itself; an answer comes only then. (Not "no answer within 100 ms"
    // against a 200 ms pause: a starved test process sent its request after the server continued,
    // and the test failed once so.)
    const held = nats.pause(200);
    const answered = nats.jetStreamApi([{ subject: "$JS.API.INFO" }], 10_000).then(() =>
      nats.paused
    );
    assert.equal(await answered, false);
    await held;
    assert.equal((await nats.jetStreamApi([{ subject: "$JS.API.INFO" }])).length, 1);
  },
});

Deno.test({
  name: "startNats: a taken port is detected",
  ignore: skipUnless("nats"),
  ...sanitize,
  fn: async () => {
    await using first = await startNats();
    await using second = await startNats({ preferredPort: first.port });
    assert.notEqual(second.port, first.port);
    const fixed = new NatsServer({ port: first.port });
    await assert.rejects(fixed.start(), /did not start/);
    await fixed.close();
  },
});

Deno.test("skipReason / skipUnless name a missing binary", () => {
  // The binary passed, not REDIS_SERVER_BIN set: other test files start servers meanwhile.
  const missing = "/nonexistent/redis-server";
  assert.match(skipReason("redis", missing) ?? "", /\/nonexistent\/redis-server is not installed/);
  assert.match(skipReason("redis", missing) ?? "", /set REDIS_SERVER_BIN to its path/);
  assert.equal(skipUnless("redis", missing), true);
  assert.equal(skipReason("redis"), undefined, "redis-server is installed here");
});

Deno.test({
  name:
    "a server killed from outside is reported (exitReport, running false) and start() starts anew",
  ignore: skipUnless("redis"),
  ...sanitize,
  fn: async () => {
    await using redis = await startRedis();
    assert.equal(await redis.exitReport(), undefined);
    Deno.kill(redis.pid!, "SIGKILL");
    const report = await waitFor(() => redis.exitReport());
    assert.match(report, /exited by itself \(code \d+, signal SIGKILL\)/);
    assert.equal(redis.running, false);
    await redis.start();
    assert.equal(redis.running, true);
    assert.equal(await redis.exitReport(), undefined);
    assert.equal(await redis.command("PING"), "+PONG");
    await redis.stop();
    assert.equal(await redis.exitReport(), undefined, "a stop is not an exit by itself");
  },
});

/** The first defined value of `read`, polled every 10 ms for at most 5 s. */
async function waitFor<T>(read: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const value = await read();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("nothing within 5 s");
}
