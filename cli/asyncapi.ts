/**
 * `switchboard asyncapi`: writes an app's AsyncAPI 3.0 document to a file (or stdout). Runs on
 * Deno and Node (`node:` built-ins only; `--format yaml` needs the `yaml` package).
 *
 * ```sh
 * npx switchboard asyncapi --app ./app.js --format yaml --out asyncapi.yaml
 * deno run -A jsr:@switchboard/switchboard/cli asyncapi --app ./app.ts --format json --out doc.json
 * ```
 *
 * `--app <module>` exports the app as `app`, `createApp()` or its default export. The document
 * comes from the core generator (`generateAsyncApi`), YAML from `adapters/asyncapi`.
 *
 * @module
 */
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { type App, generateAsyncApi } from "../mod.ts";

/** How `switchboard asyncapi` is called. */
export const ASYNCAPI_USAGE =
  `Usage: switchboard asyncapi --app <module> [--format json|yaml] [--out file]
       [--server host:port|wss://host/path] [--protocol ws|wss] [--title t] [--api-version v]
       [--description d] [--camel-case]`;

/**
 * Runs `switchboard asyncapi` with `args` (without the subcommand); resolves with the exit code:
 * 0 written, 1 the document could not be made, 2 bad arguments or no app.
 */
export async function asyncapiMain(args: readonly string[]): Promise<number> {
  const usage = (message: string) => {
    console.error(`asyncapi: ${message}\n${ASYNCAPI_USAGE}`);
    return 2;
  };
  let values;
  try {
    values = parseArgs({
      args: [...args],
      options: {
        app: { type: "string" },
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
    }).values;
  } catch (error) {
    return usage((error as Error).message);
  }
  if (values.help) {
    console.log(ASYNCAPI_USAGE);
    return 0;
  }
  if (values.format !== "json" && values.format !== "yaml") {
    return usage(`--format must be json or yaml, not '${values.format}'`);
  }
  if (!values.app) return usage("--app is required (the module that exports your App)");
  const specifier = /^[a-z][a-z0-9+.-]+:/i.test(values.app)
    ? values.app
    : pathToFileURL(resolve(values.app)).href;
  let module: Record<string, unknown>;
  try {
    module = await import(specifier);
  } catch (error) {
    return usage(`cannot import ${values.app}: ${(error as Error)?.message ?? error}`);
  }
  const candidate = module.app ??
    (typeof module.createApp === "function" ? (module.createApp as () => unknown)() : undefined) ??
    module.default;
  if (!candidate || !Array.isArray((candidate as App).routes)) {
    return usage(`${values.app} exports no App (as \`app\`, \`createApp()\` or default)`);
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
    if (values.format === "json") text = JSON.stringify(document, null, 2) + "\n";
    else {
      const { asyncApiToYaml } = await import("../adapters/asyncapi/mod.ts").catch((error) => {
        throw new Error(`--format yaml needs the \`yaml\` package (npm install yaml): ${error}`);
      });
      text = asyncApiToYaml(document);
    }
  } catch (error) {
    console.error(`asyncapi: failed to generate the document: ${(error as Error).message}`);
    return 1;
  }
  if (values.out) {
    await writeFile(values.out, text);
    console.error(`asyncapi: wrote ${values.out} (${values.format})`);
  } else {
    await new Promise<void>((done) => process.stdout.write(text, () => done()));
  }
  return 0;
}
