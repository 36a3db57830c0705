/**
 * The conformance suite on the Redis queue layer, on three private servers started per test: the
 * second half of the cases that are not fault or reconnect ones (see
 * redis_queue_sharded_conformance_test.ts).
 *
 * @module
 */
import { shardedSuite } from "./redis_sharded_suites.ts";

shardedSuite("queue", "core", { index: 1, count: 2 });
