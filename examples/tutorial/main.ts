/**
 * `deno task dev`: serves the tutorial app — every consumer, the page at `/`, the docs at
 * `/asyncapi` — on PORT (default 8080).
 *
 * Without REDIS_URL: in-memory layers and jobs, with a worker in this process.
 * With REDIS_URL (or REDIS_CLUSTER_URLS, a Redis Cluster's seed nodes): Redis layers and jobs; a
 * worker in this process unless `--no-worker`, which leaves jobs to `deno task worker`.
 * With NATS_URL: NATS layers and jobs (JetStream), whatever REDIS_URL says.
 * Ctrl+C shuts down cleanly: sockets closed, the worker drained, connections released.
 * Settings (REDIS_URL, API_TOKEN, ALLOWED_ORIGINS, MAX_JOBS_PER_CONNECTION) are checked before
 * anything starts: see settings.ts.
 */
import { apiToken, checkSettings, extraOrigins, metricsToken, SettingsError } from "./settings.ts";

try {
  checkSettings();
} catch (error) {
  if (!(error instanceof SettingsError)) throw error;
  console.error(`Cannot start the tutorial: ${error.message}`);
  Deno.exit(1);
}

// Imported once the settings are known to be right: the app registers its layers on import.
const { layers } = await import("../../mod.ts");
const { app, localViewerDir } = await import("./app.ts");
const { closeJobQueue, createWorker } = await import("./background_jobs/queue.ts");
const { LAYER_ALIASES, layerBackend } = await import("./layers.ts");
const { metricsOf } = await import("../../adapters/metrics/mod.ts");
const { setupPresence } = await import("./presence.ts");
const { presenceBackends } = await import("../../mod.ts");
const presence = await setupPresence(); // the room chat's "who is online", beside the layers

const port = Number(Deno.env.get("PORT") ?? 8080);
const hostname = Deno.env.get("HOST") ?? "127.0.0.1";
const inProcessWorker = !Deno.args.includes("--no-worker");

const metrics = metricsOf(app);
for (const alias of LAYER_ALIASES) metrics.watchLayer(alias, layers.get(alias));
const worker = inProcessWorker ? createWorker({ observer: metrics.jobs }) : undefined;
const working = worker?.start(); // resolves when the worker stops

const server = Deno.serve({
  port,
  hostname,
  onListen: ({ hostname, port }) => {
    console.log(
      `Switchboard tutorial on http://${hostname}:${port}/ (layers: ${layerBackend()}, presence: ${presence}, worker: ${
        inProcessWorker ? "in-process" : "separate (deno task worker)"
      })`,
    );
    const { token, generated } = apiToken();
    console.log(
      `HTTP API token (Authorization: Bearer …): ${token}${
        generated ? " (generated for this run; set API_TOKEN to choose one)" : " (from API_TOKEN)"
      }`,
    );
    const extra = extraOrigins();
    console.log(
      `WebSockets accepted from the page's own origin${
        extra === "*"
          ? " and every origin (ALLOWED_ORIGINS=*)"
          : extra.length
          ? ` and ${extra.join(", ")} (ALLOWED_ORIGINS)`
          : " (open the page as printed above; ALLOWED_ORIGINS adds others)"
      }. Readiness: GET /healthz`,
    );
    console.log(
      `Metrics: http://${hostname}:${port}/metrics${
        metricsToken() ? " (Authorization: Bearer <METRICS_TOKEN or the API token>)" : ""
      }; inspector: http://${hostname}:${port}/inspector?token=<the API token>`,
    );
    if (!localViewerDir()) {
      console.log(
        "The AsyncAPI page (/asyncapi) loads its viewer from unpkg.com; run `deno install` to serve it locally.",
      );
    }
  },
}, app.fetch);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log("Shutting down…");
  await app.close({ closeLayers: false }); // sockets first: onDisconnect may still broadcast
  await worker?.stop({ graceful: true, timeout: 10_000 });
  await working;
  await closeJobQueue();
  await layers.closeAll();
  await presenceBackends.closeAll();
  await server.shutdown();
  console.log("Stopped.");
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
