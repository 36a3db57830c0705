/**
 * The history section of the conformance suite on both Redis layers over a private 3-master,
 * 3-replica Redis Cluster started once for this file (history keys and the pub/sub layer's shard
 * channel of a group on one slot). `FLUSHALL` on every master loses the histories: the epoch
 * changes. A master killed with its replica promoted keeps what was replicated: a receiver that
 * missed messages during the failover reads them back.
 *
 * @module
 */
import assert from "node:assert/strict";
import { historyConformanceSuite } from "./conformance_history.ts";
import { clusterPerFile } from "../helpers/cluster_file.ts";
import { clusterHarness, makeClusterLayer } from "./redis_cluster_harness.ts";
import {
  flushMasters,
  hasReplica,
  masterPorts as masters,
  replicated,
} from "../helpers/cluster_nodes.ts";
import { type HistoryStamp, historyStamp } from "../../src/layers/history.ts";
import { randomToken, RESYNC_MESSAGE_TYPE } from "../../src/layers/kit.ts";
import { eventually } from "./conformance_faults.ts";
import { receiveWithin } from "./conformance.ts";
import { quietLogs } from "../jobs/contract.ts";

quietLogs();
const cluster = clusterPerFile("Redis Cluster history");
const skip = cluster.skip || undefined;

for (const kind of ["pubsub", "queue"] as const) {
  historyConformanceSuite(
    `redis ${kind === "pubsub" ? "pub/sub" : kind}, cluster`,
    clusterHarness(kind, cluster),
    {
      sharedState: true,
      lose: () => flushMasters(cluster.server()),
      skip,
    },
  );
}

const OPTIONS = { size: 1000, ttlMs: 60_000 };

Deno.test({
  name: "cluster pub/sub layer, history: groups on every master are appended and published " +
    "in one script (the history keys share the slot of the group's shard channel)",
  ignore: !!skip,
  async fn() {
    const server = cluster.server();
    const prefix = `hslot${randomToken(6)}`;
    const layer = makeClusterLayer("pubsub", cluster.urls(), prefix);
    try {
      const channel = await layer.newChannel();
      const nodes = new Set<number>();
      for (let i = 0; i < 12; i++) {
        const group = `g${i}`;
        nodes.add(await server.masterOf(`${prefix}:group:${group}`));
        await layer.groupAdd(group, channel);
        const position = await layer.appendAndSend(group, { type: "m", i }, OPTIONS);
        assert.equal(position.offset, 1);
        const got = await receiveWithin(layer, channel);
        assert.deepEqual(historyStamp(got), { group, ...position });
      }
      assert.equal(nodes.size, (await masters(server)).length, "the groups cover every master");
    } finally {
      await layer.close();
    }
  },
});

for (const kind of ["pubsub", "queue"] as const) {
  Deno.test({
    name: `cluster ${kind} layer, history: a master killed, its replica promoted: a receiver ` +
      `reads back what it missed, nothing replicated is lost, the epoch stays`,
    ignore: !!skip,
    async fn() {
      const server = cluster.server();
      const prefix = `hkill${randomToken(6)}`;
      const fast = { backoff: { minDelayMs: 20, maxDelayMs: 200 } };
      const receiver = makeClusterLayer(kind, cluster.urls(), prefix, fast as never);
      const sender = makeClusterLayer(kind, cluster.urls(), prefix, fast as never);
      // The master of the group's history keys (the slot of its shard channel on pub/sub) must
      // have a replica: an earlier test of this file may have killed the one of a master.
      const keyOf = (group: string) =>
        kind === "pubsub"
          ? `${prefix}:history:{${prefix}:group:${group}}`
          : `${prefix}:history:{${group}}`;
      let group = "room";
      for (let i = 0; !(await hasReplica(await server.masterOf(keyOf(group)))); i++) {
        if (i === 100) throw new Error("no master with a replica left in the cluster");
        group = `room${i}`;
      }
      try {
        const channel = await receiver.newChannel();
        await receiver.groupAdd(group, channel);
        const seen: HistoryStamp[] = [];
        const take = async () => {
          const m = await receiveWithin(receiver, channel, 10_000);
          if (m.type !== RESYNC_MESSAGE_TYPE) seen.push(historyStamp(m)!);
          return m;
        };
        for (let n = 1; n <= 20; n++) await sender.appendAndSend(group, { type: "m", n }, OPTIONS);
        for (let n = 1; n <= 20; n++) assert.equal((await take()).n, n);
        const epoch = seen[0].epoch;
        const key = keyOf(group);
        const master = await server.masterOf(key);
        await replicated(master);
        // Sent after the last message the receiver took, replicated, then the master dies.
        for (let n = 21; n <= 30; n++) await sender.appendAndSend(group, { type: "m", n }, OPTIONS);
        await replicated(master);
        const killed = await server.killMaster(key);
        assert.notEqual(await server.masterOf(key), killed);
        // The sender goes on once the promoted replica serves the slot (a retried append may
        // append twice: a duplicate in the history, never a hole).
        for (let n = 31; n <= 40; n++) {
          await eventually(() => sender.appendAndSend(group, { type: "m", n }, OPTIONS));
        }
        // The receiver read back from its last position what it did not hear.
        const last = seen[seen.length - 1];
        const read = await eventually(() =>
          receiver.readSince(group, { offset: last.offset, epoch: last.epoch }, OPTIONS)
        );
        assert.ok(read.recovered, `not recovered: ${JSON.stringify(read)}`);
        assert.equal(read.position.epoch, epoch, "the failover kept the epoch");
        const offsets = read.messages.map((m) => m.offset);
        assert.deepEqual(offsets, range(last.offset + 1, read.position.offset), "no hole");
        const got = new Set([
          ...range(1, 20),
          ...read.messages.map((m) => m.message.n as number),
        ]);
        assert.deepEqual([...got].sort((a, b) => a - b), range(1, 40), "every message is there");
      } finally {
        await Promise.all([receiver.close(), sender.close()]);
      }
    },
  });
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

cluster.registerStop();
