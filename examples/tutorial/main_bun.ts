/**
 * `deno task dev:bun`: the same tutorial app as `deno task dev`, served on Bun by adapters/bun —
 * every consumer, the page at `/`, the docs at `/asyncapi` — on PORT (default 8080), with the
 * same settings (REDIS_URL, SEND_COMPLETION, API_TOKEN, ALLOWED_ORIGINS, …; see settings.ts) and
 * an in-process worker. Run it with `deno task dev:bun` (which finds Bun: scripts/bun.ts) or
 * `bun --tsconfig-override=bun.tsconfig.json run examples/tutorial/main_bun.ts`.
 *
 * The tutorial's modules read their settings with `Deno.env` and serve files with
 * `Deno.readFile`: ./deno_shim.ts answers those few calls from `node:process` and `node:fs`.
 */
import "./deno_shim.ts"; // the tutorial's few Deno calls, from node:process and node:fs
import process from "node:process";

const { apiToken, checkSettings, SettingsError } = await import("./settings.ts");
try {
  checkSettings();
} catch (error) {
  if (!(error instanceof SettingsError)) throw error;
  console.error(`Cannot start the tutorial: ${error.message}`);
  process.exit(1);
}

const { layers } = await import("../../mod.ts");
const { app } = await import("./app.ts");
const { closeJobQueue, createWorker } = await import("./background_jobs/queue.ts");
const { layerBackend } = await import("./layers.ts");
const { serve } = await import("../../adapters/bun/mod.ts");

const worker = createWorker();
const working = worker.start();
const server = await serve(app, {
  port: Number(process.env.PORT ?? 8080),
  hostname: process.env.HOST ?? "127.0.0.1",
  onListen: ({ hostname, port }) => {
    const bun = (globalThis as { Bun?: { version: string } }).Bun?.version;
    console.log(
      `Switchboard tutorial on Bun ${bun} at http://${hostname}:${port}/ (layers: ${layerBackend()}, worker: in-process)`,
    );
    console.log(`HTTP API token (Authorization: Bearer …): ${apiToken().token}`);
  },
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log("Shutting down…");
  await server.handler.close({ closeLayers: false }); // sockets first: onDisconnect may broadcast
  await worker.stop({ graceful: true, timeout: 10_000 });
  await working;
  await closeJobQueue();
  await layers.closeAll();
  await server.close({ closeLayers: false });
  console.log("Stopped.");
  process.exit(0);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void stop());
