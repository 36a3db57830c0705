/**
 * `deno task asyncapi`: writes an app's AsyncAPI 3.0 document to a file (or stdout).
 *
 * ```sh
 * deno task asyncapi --format yaml --out asyncapi.yaml
 * deno task asyncapi --app ./my_app.ts --format json --server wss://api.example.com --out doc.json
 * ```
 *
 * Options: `--app <module>` (exports `app`, `createApp()` or a default App; default the tutorial),
 * `--format json|yaml` (default yaml), `--out <file>` (default stdout), `--server <url>`,
 * `--protocol ws|wss`, `--title`, `--api-version`, `--description`, `--camel-case`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { asyncApiToYaml, generateAsyncApi } from "../adapters/asyncapi/mod.ts";
import type { App } from "../mod.ts";

const USAGE = `Usage: deno task asyncapi [--app module.ts] [--format json|yaml] [--out file]
       [--server host:port|wss://host/path] [--protocol ws|wss] [--title t] [--api-version v]
       [--description d] [--camel-case]`;

function fail(message: string): never {
  console.error(`asyncapi: ${message}\n${USAGE}`);
  Deno.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        app: { type: "string", default: "examples/tutorial/app.ts" },
        format: { type: "string", default: "yaml" },
        out: { type: "string" },
        server: { type: "string" },
        protocol: { type: "string" },
        title: { type: "string" },
        "api-version": { type: "string" },
        description: { type: "string" },
        "camel-case": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    fail((error as Error).message);
  }
})();

if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
if (values.format !== "json" && values.format !== "yaml") {
  fail(`--format must be json or yaml, not '${values.format}'`);
}

const specifier = /^[a-z]+:/i.test(values.app!)
  ? values.app!
  : pathToFileURL(resolve(values.app!)).href;
const module = await import(specifier) as Record<string, unknown>;
const candidate = module.app ??
  (typeof module.createApp === "function" ? (module.createApp as () => unknown)() : undefined) ??
  module.default;
if (!candidate || !Array.isArray((candidate as App).routes)) {
  fail(`${values.app} exports no App (as \`app\`, \`createApp()\` or default)`);
}

let text: string;
try {
  const document = generateAsyncApi(candidate as App, {
    serverUrl: values.server,
    serverProtocol: values.protocol,
    title: values.title,
    version: values["api-version"],
    description: values.description,
    camelCase: values["camel-case"],
  });
  text = values.format === "json"
    ? JSON.stringify(document, null, 2) + "\n"
    : asyncApiToYaml(document);
} catch (error) {
  console.error(`asyncapi: failed to generate the document: ${(error as Error).message}`);
  Deno.exit(1);
}

if (values.out) {
  await Deno.writeTextFile(values.out, text);
  console.error(`asyncapi: wrote ${values.out} (${values.format})`);
} else {
  await Deno.stdout.write(new TextEncoder().encode(text));
}
Deno.exit(0); // the app module may hold layer timers open
