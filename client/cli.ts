/**
 * `switchboard client`: generates a typed client from an AsyncAPI 3 document (a file or an
 * http(s) URL; JSON, or YAML by extension or content type) with {@linkcode generateClient}.
 * Runs on Deno and Node (it uses `node:` built-ins only; YAML needs the `yaml` package).
 *
 * ```sh
 * npx switchboard client --schema asyncapi.json --out client/          # npm package
 * deno run -A jsr:@switchboard/switchboard/cli client --schema http://localhost:8080/asyncapi.json --out client/
 * deno task client --schema asyncapi.json --out client/                # in this repository
 * ```
 *
 * @module
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CodegenError, generateClient } from "./codegen.ts";

/** A JSON value as the CLI reads it. */
// deno-lint-ignore no-explicit-any
type Json = any;

/** How `switchboard client` is called. */
export const CLIENT_USAGE =
  "Usage: switchboard client --schema <asyncapi.json|.yaml|url> --out <dir> [--no-readme]";

async function loadDocument(source: string): Promise<Json> {
  let text: string;
  let yaml = /\.ya?ml$/i.test(source);
  if (/^https?:\/\//i.test(source)) {
    const res = await fetch(source);
    if (!res.ok) throw new CodegenError(`GET ${source}: ${res.status}`);
    yaml ||= /yaml/i.test(res.headers.get("content-type") ?? "");
    text = await res.text();
  } else {
    text = await readFile(source, "utf8");
  }
  if (yaml) {
    const { parse } = await import("yaml").catch(() => {
      throw new CodegenError("reading YAML needs the `yaml` package (npm install yaml)");
    });
    return parse(text);
  }
  return JSON.parse(text);
}

/** The client runtime (`client.js` + `client.d.ts`) next to this module: a file or a URL (JSR). */
async function readRuntime(): Promise<{ js: string; dts: string }> {
  const read = async (name: string) => {
    const url = new URL(`./${name}`, import.meta.url);
    if (url.protocol === "file:") return await readFile(fileURLToPath(url), "utf8");
    const res = await fetch(url);
    if (!res.ok) throw new CodegenError(`GET ${url}: ${res.status}`);
    return await res.text();
  };
  return { js: await read("client.js"), dts: await read("client.d.ts") };
}

/** Runs `switchboard client` with `args` (without the subcommand); resolves with the exit code. */
export async function clientMain(args: readonly string[]): Promise<number> {
  let schema: string | undefined;
  let out: string | undefined;
  let readme = true;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--schema" || a === "-s") schema = args[++i];
    else if (a.startsWith("--schema=")) schema = a.slice(9);
    else if (a === "--out" || a === "-o") out = args[++i];
    else if (a.startsWith("--out=")) out = a.slice(6);
    else if (a === "--no-readme") readme = false;
    else if (a === "--help" || a === "-h") {
      console.log(CLIENT_USAGE);
      return 0;
    } else {
      console.error(`❌ Unknown argument ${a}\n${CLIENT_USAGE}`);
      return 1;
    }
  }
  if (!schema || !out) {
    console.error(`❌ --schema and --out are required\n${CLIENT_USAGE}`);
    return 1;
  }
  try {
    console.log(`📖 Loading AsyncAPI schema: ${schema}`);
    const doc = await loadDocument(schema);
    console.log(
      `   ${doc?.info?.title ?? "?"} ${doc?.info?.version ?? ""}: ${
        Object.keys(doc?.channels ?? {}).length
      } channels, ${Object.keys(doc?.operations ?? {}).length} operations`,
    );
    const files = generateClient(doc, await readRuntime(), { readme });
    console.log(`🔧 Generating client code to: ${out}`);
    await mkdir(out, { recursive: true });
    for (const [name, text] of Object.entries(files)) await writeFile(join(out, name), text);
    console.log(`✅ Client generated successfully! (${Object.keys(files).join(", ")})`);
    return 0;
  } catch (error) {
    if ((error as { code?: string })?.code === "ENOENT") {
      console.error(`❌ File not found: ${schema}`);
    } else if (error instanceof SyntaxError || error instanceof CodegenError) {
      console.error(`❌ Invalid schema: ${(error as Error).message}`);
    } else console.error(`❌ Error: ${(error as Error)?.message ?? error}`);
    return 1;
  }
}
