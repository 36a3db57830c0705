/**
 * `scripts/asyncapi.ts`: `switchboard asyncapi` (cli/asyncapi.ts) with the tutorial as the default
 * `--app`, kept for scripts that call it by path; `deno task asyncapi` runs the same command.
 *
 * @module
 */
import { asyncapiMain } from "../cli/asyncapi.ts";

const app = Deno.args.some((a) => a === "--app" || a.startsWith("--app="))
  ? []
  : ["--app", "examples/tutorial/app.ts"];
Deno.exit(await asyncapiMain([...app, ...Deno.args]));
