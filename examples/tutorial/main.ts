/** `deno task dev`: serves the tutorial app. */
import { app } from "./app.ts";

const port = Number(Deno.env.get("PORT") ?? 8080);
const server = Deno.serve({
  port,
  hostname: Deno.env.get("HOST") ?? "127.0.0.1",
  onListen: ({ hostname, port }) =>
    console.log(`Switchboard tutorial on http://${hostname}:${port}/`),
}, app.fetch);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  console.log("Shutting down…");
  await app.close();
  await server.shutdown();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
