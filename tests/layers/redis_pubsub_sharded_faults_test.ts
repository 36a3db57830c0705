/**
 * The fault and reconnect cases of the conformance suite on the Redis pub/sub layer, on three
 * private servers started per test (restart, pause, proxies). The other cases are in
 * redis_pubsub_sharded_conformance_test.ts and redis_pubsub_sharded_conformance2_test.ts.
 *
 * @module
 */
import { shardedSuite } from "./redis_sharded_suites.ts";

shardedSuite("pubsub", "faults");
