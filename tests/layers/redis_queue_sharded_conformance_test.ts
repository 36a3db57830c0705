/**
 * The conformance suite on the Redis queue layer, on three private servers started per test: the
 * first half of the cases that are not fault or reconnect ones (dealt round-robin; the other half
 * is in redis_queue_sharded_conformance2_test.ts, the fault cases in
 * redis_queue_sharded_faults_test.ts), so that `deno test --parallel` runs them side by side.
 *
 * @module
 */
import { shardedSuite } from "./redis_sharded_suites.ts";

shardedSuite("queue", "core", { index: 0, count: 2 });
