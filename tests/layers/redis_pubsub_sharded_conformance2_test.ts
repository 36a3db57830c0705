/**
 * The conformance suite on the Redis pub/sub layer, on three private servers started per test: the
 * second half of the cases that are not fault or reconnect ones (see
 * redis_pubsub_sharded_conformance_test.ts).
 *
 * @module
 */
import { shardedSuite } from "./redis_sharded_suites.ts";

shardedSuite("pubsub", "core", { index: 1, count: 2 });
