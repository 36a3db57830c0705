/**
 * In-memory adapters: the channel layer and the job queue for one process.
 *
 * @module
 */
export { InMemoryChannelLayer, type InMemoryChannelLayerOptions } from "./layer.ts";
export { InMemoryJobQueue, type InMemoryJobQueueOptions } from "./job_queue.ts";
