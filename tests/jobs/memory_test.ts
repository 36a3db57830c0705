/**
 * The job queue contract on {@linkcode InMemoryJobQueue}.
 *
 * @module
 */
import { InMemoryJobQueue } from "../../src/jobs/memory_queue.ts";
import { jobQueueContract } from "./contract.ts";

jobQueueContract({
  name: "InMemoryJobQueue",
  skip: false,
  makeQueue: (options = {}) => Promise.resolve(new InMemoryJobQueue(options)),
  fakeClock: true,
});
