/** Sharding and serialization of the Redis layers (no Redis needed). */
import assert from "node:assert/strict";
import { SerializationError } from "../../src/layers/kit.ts";
import {
  consistentHash,
  crc32,
  ENCRYPTED_PREFIX,
  encryptedSerializer,
  jsonSerializer,
  makeSerializer,
} from "../../adapters/redis/mod.ts";
import { globToLuaPattern } from "../../adapters/redis/scripts.ts";

Deno.test("consistentHash matches channels_redis' test vectors (§3.7)", () => {
  const vectors: Array<[string, number, number]> = [
    ["key_one", 1, 0],
    ["key_two", 1, 0],
    ["key_one", 2, 1],
    ["key_two", 2, 0],
    ["key_one", 10, 6],
    ["key_two", 10, 4],
  ];
  for (const [value, ring, expected] of vectors) {
    assert.equal(consistentHash(value, ring), expected, `${value}/${ring}`);
    assert.equal(consistentHash(new TextEncoder().encode(value), ring), expected);
  }
  assert.equal(crc32("123456789"), 0xcbf43926);
  assert.throws(() => consistentHash("x", 0), RangeError);
});

Deno.test("JSON serializer: plain JSON on the wire, typed errors for bad input", () => {
  const message = { type: "chat", a: true, b: null, c: { d: [] } };
  const wire = jsonSerializer.encode(message) as string;
  assert.equal(wire, '{"type":"chat","a":true,"b":null,"c":{"d":[]}}');
  assert.deepEqual(jsonSerializer.decode(wire), message);
  assert.throws(() => jsonSerializer.encode({ type: "x", n: 1n } as never), SerializationError);
  const cyclic: Record<string, unknown> = { type: "x" };
  cyclic.self = cyclic;
  assert.throws(() => jsonSerializer.encode(cyclic as never), SerializationError);
  assert.throws(() => jsonSerializer.encode({ kind: "x" } as never), TypeError);
  assert.throws(() => jsonSerializer.decode("{not json"), SerializationError);
  assert.throws(() => jsonSerializer.decode('{"kind":"no type"}'), SerializationError);
  assert.throws(() => jsonSerializer.decode("[1]"), SerializationError);
});

Deno.test("AES-GCM serializer: encrypts, rotates keys, refuses tampering and clear text", async () => {
  const message = { type: "secret", text: "attack at dawn" };
  const old = encryptedSerializer(["old-key"]);
  const rotated = encryptedSerializer(["new-key", "old-key"]);
  const wire = await old.encode(message);
  assert.ok(wire.startsWith(ENCRYPTED_PREFIX));
  assert.ok(!wire.includes("dawn"));
  assert.notEqual(await old.encode(message), wire, "a fresh IV per message");
  assert.deepEqual(await rotated.decode(wire), message, "old messages still decrypt");
  const fresh = await rotated.encode(message);
  await assert.rejects(async () => await old.decode(fresh), SerializationError);
  const tampered = fresh.slice(0, -4) + (fresh.endsWith("AAAA") ? "BBBB" : "AAAA");
  await assert.rejects(async () => await rotated.decode(tampered), SerializationError);
  await assert.rejects(
    async () => await rotated.decode(JSON.stringify(message)),
    /unencrypted/,
  );
  await assert.rejects(
    async () => await rotated.decode(ENCRYPTED_PREFIX + "!!!"),
    SerializationError,
  );
  assert.throws(() => encryptedSerializer([]), TypeError);
  assert.throws(() => makeSerializer("key" as never), TypeError);
  assert.throws(() => encryptedSerializer([""]), TypeError);
});

Deno.test("capacity globs become anchored Lua patterns", () => {
  assert.equal(globToLuaPattern("jobs.*"), "^jobs%..*$");
  assert.equal(globToLuaPattern("a-b?"), "^a%-b.$");
  assert.equal(globToLuaPattern("one"), "^one$");
});

Deno.test("host identity: normalized address; host order does not change the shard order", async () => {
  const { hostIdentity } = await import("../../adapters/redis/mod.ts");
  const { resolveHosts } = await import("../../adapters/redis/redis_client.ts");
  assert.equal(hostIdentity("redis://127.0.0.1"), "redis://127.0.0.1:6379/0");
  assert.equal(
    hostIdentity("redis://user:pw@Cache.Example:6380/2"),
    "redis://cache.example:6380/2",
  );
  assert.equal(hostIdentity("rediss://h:7000"), "rediss://h:7000/0");
  assert.equal(
    hostIdentity({ options: { socket: { host: "h", port: 7000 }, database: 1 } }),
    "redis://h:7000/1",
  );
  assert.equal(hostIdentity({ options: { url: "redis://h:7000/3" } }), "redis://h:7000/3");
  const a = "redis://10.0.0.1:6379", b = "redis://10.0.0.2:6379", c = "redis://10.0.0.3:6379";
  assert.deepEqual(resolveHosts({ hosts: [c, a, b] }), resolveHosts({ hosts: [b, c, a] }));
  assert.deepEqual(resolveHosts({ hosts: [c, a, b] }), [a, b, c]);
  assert.throws(
    () => resolveHosts({ hosts: [a, "redis://user@10.0.0.1:6379/0"] }),
    /listed twice/,
  );
  assert.throws(() => resolveHosts({ hosts: ["not a url", a] }), TypeError);
});

Deno.test("blocking commands get their block time on top of the command timeout", async () => {
  const { blockingMs } = await import("../../adapters/redis/redis_client.ts");
  assert.equal(blockingMs(["BZPOPMIN", "k1", "k2", "2"]), 2000);
  assert.equal(blockingMs(["blpop", "k", "0.5"]), 500);
  assert.equal(blockingMs(["BLPOP", "k", "0"]), Infinity);
  assert.equal(blockingMs(["BLMPOP", "1.5", "1", "k", "LEFT"]), 1500);
  assert.equal(blockingMs(["XREAD", "BLOCK", "250", "STREAMS", "s", "$"]), 250);
  assert.equal(blockingMs(["XREAD", "STREAMS", "s", "$"]), 0);
  assert.equal(blockingMs(["PUBLISH", "c", "5"]), 0);
  assert.equal(blockingMs(["EVALSHA", "sha", "1", "k", "9"]), 0);
});

Deno.test("timeout options are checked", async () => {
  const { RedisPubSubChannelLayer, RedisQueueChannelLayer } = await import(
    "../../adapters/redis/mod.ts"
  );
  for (const bad of [0, -1, NaN, Infinity, "5" as unknown as number]) {
    assert.throws(
      () => new RedisPubSubChannelLayer({ timeouts: { commandTimeoutMs: bad } }),
      RangeError,
    );
    assert.throws(
      () => new RedisQueueChannelLayer({ timeouts: { connectTimeoutMs: bad } }),
      RangeError,
    );
  }
});
