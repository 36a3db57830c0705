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

const { serveTutorial } = await import("./serve_runtime.ts");
const { serve } = await import("../../adapters/bun/mod.ts");
await serveTutorial(`Bun ${(globalThis as { Bun?: { version: string } }).Bun?.version}`, serve);
