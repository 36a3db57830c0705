/**
 * ClusterClient's re-subscription after a moved shard channel (adapters/redis/cluster_client.ts)
 * against a stand-in node-redis cluster whose `sSubscribe` keeps failing, as it does while the
 * cluster has no master for the slot: `close()` ends the retries at once and no retry timer
 * outlives it (Deno's sanitizer fails the test on a pending timer, as it failed
 * tests/core/history_cluster_failover_test.ts once: tests/FLAKES.md item 21).
 *
 * @module
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { ClusterClient } from "../../adapters/redis/cluster_client.ts";

Deno.test("ClusterClient: close() during the re-subscription of a moved channel leaves no timer", async () => {
  const shard = new EventEmitter();
  let open = true;
  let tries = 0;
  let failing = false;
  let retried: () => void = () => {};
  const retriedTwice = new Promise<void>((r) => (retried = r));
  const cluster = {
    get isOpen() {
      return open;
    },
    masters: [{ pubSub: { client: shard } }],
    sSubscribe() {
      if (!failing) return Promise.resolve();
      if (++tries === 2) retried();
      return Promise.reject(new Error("Cannot read properties of undefined (reading 'master')"));
    },
    on() {},
    close() {
      open = false;
      return Promise.resolve();
    },
  };
  const client = new ClusterClient(cluster);
  let readies = 0;
  client.on("ready", () => readies++);
  await client.subscribe("{room}:group", () => {});
  failing = true;
  shard.emit("sharded-channel-moved", "{room}:group");
  await retriedTwice; // the retry loop is between two failed tries, waiting on its timer
  await client.close(); // the sanitizer then fails the test if the retry's timer is still pending
  assert.equal(tries, 2, "no re-subscribe once close() began");
  assert.equal(readies, 0, "a closed client reports no 'ready'");
});
