/**
 * What `deno task dev:bun` (main_bun.ts) and `deno task dev:node` (main_node.ts) share: check the
 * settings, start the in-process worker, serve the tutorial app with the runtime's `serve`, and
 * shut down in order on SIGINT/SIGTERM. Import it after ./deno_shim.ts (the tutorial's modules
 * read `Deno.env`), which is why it loads them only when called.
 */
import process from "node:process";
import type { App } from "../../mod.ts";

/** The `serve` of a runtime adapter (adapters/bun, adapters/node), as the tutorial calls it. */
export type RuntimeServe = (app: App, options: {
  port: number;
  hostname: string;
  onListen: (address: { hostname: string; port: number }) => void;
}) => Promise<{
  handler: { close(options: { closeLayers: boolean }): Promise<void> };
  close(options: { closeLayers: boolean }): Promise<void>;
}>;

/** Serves the tutorial on `runtime` (its name and version, for the start line) with `serve`. */
export async function serveTutorial(runtime: string, serve: RuntimeServe): Promise<void> {
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

  const worker = createWorker();
  const working = worker.start();
  const server = await serve(app, {
    port: Number(process.env.PORT ?? 8080),
    hostname: process.env.HOST ?? "127.0.0.1",
    onListen: ({ hostname, port }) => {
      console.log(
        `Switchboard tutorial on ${runtime} at http://${hostname}:${port}/ (layers: ${layerBackend()}, worker: in-process)`,
      );
      console.log(`HTTP API token (Authorization: Bearer …): ${apiToken().token}`);
    },
  });

  let stopping = false;
  const stop = async () => {
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
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void stop());
}
