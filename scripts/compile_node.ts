/**
 * Compiles TypeScript entries, with everything they import (the library included), for Node 20 with
 * the TypeScript compiler — emit only, decorators and `using` lowered, `./x.ts` imports rewritten
 * to `./x.js`, as `deno task build:npm` does — into a directory at the repository root (so that
 * `zod`, `redis`, `ws`, `yaml` resolve from its node_modules). Used by scripts/dev_node.ts (the
 * tutorial) and by the Node rows of `deno task bench` (bench/scenarios/node.ts).
 *
 * `deno run --config deno.test.json -A scripts/compile_node.ts <outDir> <entry.ts>…` prints the
 * `.js` file to run for each entry, one a line.
 *
 * @module
 */
// A build tool only, pinned as in scripts/build_npm.ts.
// deno-lint-ignore no-import-prefix
import ts from "npm:typescript@~5.9.3";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Empties `outDir` (absolute, under {@linkcode ROOT}), compiles `entries` (absolute paths) and what
 * they import into it, and answers the `.js` file of each entry. Throws when nothing was emitted.
 */
export async function compileForNode(entries: string[], outDir: string): Promise<string[]> {
  await Deno.remove(outDir, { recursive: true }).catch(() => {});
  const program = ts.createProgram({
    rootNames: entries,
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
      outDir,
      sourceMap: false,
      lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.esnext.disposable.d.ts"],
      types: [],
    },
  });
  let emitted = 0;
  const result = program.emit(undefined, (fileName, text) => {
    if (!fileName.startsWith(outDir + "/")) return; // a file outside the repository (none expected)
    Deno.mkdirSync(dirname(fileName), { recursive: true });
    Deno.writeTextFileSync(fileName, text);
    emitted++;
  });
  if (result.emitSkipped || !emitted) throw new Error("TypeScript emitted nothing");
  await Deno.writeTextFile(join(outDir, "package.json"), `{ "type": "module" }\n`);
  return entries.map((e) => join(outDir, relative(ROOT, e).replace(/\.ts$/, ".js")));
}

if (import.meta.main) {
  const [out, ...entries] = Deno.args;
  if (!out || !entries.length) {
    console.error("usage: compile_node.ts <outDir> <entry.ts>…");
    Deno.exit(2);
  }
  const mains = await compileForNode(entries.map((e) => resolve(ROOT, e)), resolve(ROOT, out));
  for (const m of mains) console.log(m);
}
