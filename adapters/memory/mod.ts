/**
 * In-memory adapters: the channel layer and the job queue for one process.
 *
 * @module
 */
export { InMemoryChannelLayer, type InMemoryChannelLayerOptions } from "../../src/layers/memory.ts";
export { InMemoryJobQueue, type InMemoryJobQueueOptions } from "../../src/jobs/memory_queue.ts";
