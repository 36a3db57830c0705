/**
 * `deno task dev:node`: the tutorial app on Node. Node 20 runs no TypeScript, so this compiles
 * examples/tutorial/main_node.ts with everything it imports (the tutorial and the library) with
 * the TypeScript compiler — emit only, decorators and `using` lowered for Node 20, `./x.ts`
 * imports rewritten to `./x.js`, as `deno task build:npm` does — into `.dev-node/` at the
 * repository root (so that `zod`, `redis`, `ws`, `yaml` resolve from its node_modules), copies the
 * page's files next to their modules, and runs it with `node`, passing the environment (PORT,
 * REDIS_URL, SEND_COMPLETION…) and SIGINT/SIGTERM through.
 *
 * `deno task dev:node --build-only` only compiles (prints the entry to run).
 *
 * @module
 */
// A build tool only, pinned as in scripts/build_npm.ts.
// deno-lint-ignore no-import-prefix
import ts from "npm:typescript@~5.9.3";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, ".dev-node");
const ENTRY = join(ROOT, "examples/tutorial/main_node.ts");

await Deno.remove(OUT, { recursive: true }).catch(() => {});
const program = ts.createProgram({
  rootNames: [ENTRY],
  options: {
    target: ts.ScriptTarget.ES2022, // Node 20: no decorators, no `using` — both are lowered
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    allowImportingTsExtensions: true,
    rewriteRelativeImportExtensions: true,
    noCheck: true,
    skipLibCheck: true,
    noResolve: false,
    rootDir: ROOT,
    outDir: OUT,
    sourceMap: false,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.esnext.disposable.d.ts"],
    types: [],
  },
});
const emitted: string[] = [];
const result = program.emit(undefined, (fileName, text) => {
  if (!fileName.startsWith(OUT + "/")) return; // a file outside the repository (none expected)
  Deno.mkdirSync(dirname(fileName), { recursive: true });
  Deno.writeTextFileSync(fileName, text);
  emitted.push(fileName);
});
if (result.emitSkipped || !emitted.length) {
  console.error("dev:node: TypeScript emitted nothing");
  Deno.exit(1);
}
await Deno.writeTextFile(join(OUT, "package.json"), `{ "type": "module" }\n`);
// The files the page serves (read next to their modules) and the plain JavaScript client.
for (const dir of ["examples/tutorial/static", "client"]) {
  for await (const entry of Deno.readDir(join(ROOT, dir))) {
    if (!entry.isFile || entry.name.endsWith(".ts")) continue;
    await Deno.mkdir(join(OUT, dir), { recursive: true });
    await Deno.copyFile(join(ROOT, dir, entry.name), join(OUT, dir, entry.name));
  }
}
const main = join(OUT, relative(ROOT, ENTRY).replace(/\.ts$/, ".js"));
console.error(`dev:node: compiled ${emitted.length} modules into ${relative(ROOT, OUT)}/`);
if (Deno.args.includes("--build-only")) {
  console.log(main);
  Deno.exit(0);
}
const child = new Deno.Command("node", { args: [main, ...Deno.args], cwd: ROOT }).spawn();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => child.kill(signal));
}
Deno.exit((await child.status).code);
