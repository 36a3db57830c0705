/**
 * `deno task worker`: a standalone worker for the tutorial's jobs (needs REDIS_URL,
 * REDIS_CLUSTER_URLS or NATS_URL).
 */
import { closeJobQueue, createWorker } from "./background_jobs/queue.ts";
import { setupLayers } from "./layers.ts";
import { layers } from "../../mod.ts";

if (
  !Deno.env.get("REDIS_URL") && !Deno.env.get("REDIS_CLUSTER_URLS") && !Deno.env.get("NATS_URL")
) {
  console.error(
    "deno task worker needs REDIS_URL, REDIS_CLUSTER_URLS or NATS_URL (without them, `deno task dev` runs jobs in-process)",
  );
  Deno.exit(2);
}
setupLayers();
const worker = createWorker();
const running = worker.start(); // resolves when the worker has stopped
console.log("Switchboard tutorial worker: waiting for jobs");

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  console.log("Worker stopping: letting running jobs finish…");
  await worker.stop({ graceful: true, timeout: 30_000 });
  await running;
  await closeJobQueue();
  await layers.closeAll();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
