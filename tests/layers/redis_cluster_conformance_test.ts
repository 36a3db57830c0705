/**
 * The conformance suite on both Redis layers over a private 3-master, 3-replica Redis Cluster
 * started once for this file (sharded pub/sub; hash-tagged queue keys).
 *
 * @module
 */
import { layerConformanceSuite } from "./conformance.ts";
import { clusterPerFile } from "../helpers/cluster_file.ts";
import { clusterHarness } from "./redis_cluster_harness.ts";

const cluster = clusterPerFile("Redis Cluster conformance");
const skip = cluster.skip || undefined;

layerConformanceSuite("redis pub/sub, cluster", clusterHarness("pubsub", cluster), {
  senderCapacity: false,
  localCapacity: "drops",
  expiry: true,
  groupExpiry: false,
  sharedState: true,
  foreignKeys: true,
  skip,
});

layerConformanceSuite("redis queue, cluster", clusterHarness("queue", cluster), {
  senderCapacity: true,
  localCapacity: "throws",
  expiry: true,
  groupExpiry: true,
  sharedState: true,
  storesUntilRead: true,
  foreignKeys: true,
  skip,
});

cluster.registerStop();
