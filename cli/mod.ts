/**
 * The `switchboard` command line: `asyncapi` writes an app's AsyncAPI document, `client`
 * generates a typed client from one. The npm package installs it as the `switchboard` bin.
 *
 * ```sh
 * npx switchboard asyncapi --app ./app.js --format json --out asyncapi.json
 * npx switchboard client --schema asyncapi.json --out client/
 * deno run -A jsr:@switchboard/switchboard/cli asyncapi --app ./app.ts --out asyncapi.yaml
 * deno run -A jsr:@switchboard/switchboard/cli client --schema asyncapi.yaml --out client/
 * ```
 *
 * @module
 */
import process from "node:process";
import { ASYNCAPI_USAGE, asyncapiMain } from "./asyncapi.ts";
import { CLIENT_USAGE, clientMain } from "../client/cli.ts";

export { ASYNCAPI_USAGE, asyncapiMain } from "./asyncapi.ts";
export { CLIENT_USAGE, clientMain } from "../client/cli.ts";

/** How `switchboard` is called. */
export const USAGE: string = `Usage: switchboard <command> [options]

Commands:
  asyncapi   write an app's AsyncAPI 3.0 document (JSON or YAML)
  client     generate a typed client from an AsyncAPI document

${ASYNCAPI_USAGE}
${CLIENT_USAGE}`;

/** Runs the command line with `args` (`process.argv.slice(2)`); resolves with the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "asyncapi":
      return await asyncapiMain(rest);
    case "client":
      return await clientMain(rest);
    case "--help":
    case "-h":
    case "help":
      console.log(USAGE);
      return 0;
    default:
      console.error(command ? `switchboard: unknown command '${command}'\n${USAGE}` : USAGE);
      return 2;
  }
}

// An app module may hold timers (layers, job queues) open: exit with the code.
if (import.meta.main) process.exit(await main(process.argv.slice(2)));
