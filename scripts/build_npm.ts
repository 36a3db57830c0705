/**
 * `deno task build:npm`: writes the npm package to `npm/` — ESM JavaScript plus `.d.ts` compiled
 * by the TypeScript compiler (from npm), `package.json` exports matching deno.json's, and the
 * dependencies declared from the bare imports the output actually contains.
 *
 * Deno has already type-checked the sources (`deno task check`); here TypeScript only emits
 * (`noCheck`), rewriting `./x.ts` imports to `./x.js` (`rewriteRelativeImportExtensions`).
 *
 * Plain JavaScript modules the sources import (`client/client.js` with its `client.d.ts`) are
 * copied as they are. `bin/switchboard` runs `./cli` (`switchboard asyncapi|client`).
 *
 * Dependencies: a package the root export (`.`) needs at run time is a dependency; one that only
 * some subpaths need (`redis`: ./adapters/redis, `ws`: ./adapters/node, `yaml`: ./asyncapi …) is
 * an optional peer dependency, so an app installs only what the subpaths it imports need.
 *
 * Two Deno-only spots are swapped for Node:
 * - `testing/serve.ts` (`Deno.serve`) → `adapters/node/testing_serve.ts` (the Node adapter), so
 *   `serveForTests` from `./testing` works on Node.
 * - `npm:name@range/sub` specifiers, if any, become plain `name/sub` imports.
 *
 * Usage: `deno task build:npm [--out npm] [--version 1.2.3] [--skip-missing]`
 *
 * @module
 */
// A build tool only, pinned here rather than in the app's import map (TypeScript 7 has no JS API).
// deno-lint-ignore no-import-prefix
import ts from "npm:typescript@~5.9.3";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { builtinModules } from "node:module";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = Deno.args;
const argValue = (name: string) => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
};
const OUT = resolve(ROOT, argValue("--out") ?? "npm");
const ESM = join(OUT, "esm");

/** Packages that the user brings (one copy of zod per app: schemas cross the boundary). */
const PEERS = new Set(["zod"]);
/** Node-only replacements of Deno-only modules (source path → replacement source path). */
const REPLACEMENTS: Record<string, string> = {
  "testing/serve.ts": "adapters/node/testing_serve.ts",
};

interface DenoJson {
  name: string;
  version: string;
  license?: string;
  description?: string;
  exports: Record<string, string>;
  imports: Record<string, string>;
}

function fail(message: string): never {
  console.error(`build:npm: ${message}`);
  Deno.exit(1);
}

const denoJson = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))) as DenoJson;
const version = argValue("--version") ?? denoJson.version;

// ---- 1. compile ------------------------------------------------------------------------------

for (const [key, source] of Object.entries(denoJson.exports)) {
  try {
    await Deno.stat(join(ROOT, source));
  } catch {
    if (!args.includes("--skip-missing")) {
      fail(
        `deno.json exports "${key}" → ${source}, which does not exist (--skip-missing to leave it out)`,
      );
    }
    console.warn(`build:npm: WARNING: leaving out export "${key}": ${source} does not exist`);
    delete denoJson.exports[key];
  }
}
const entries = Object.values(denoJson.exports).map((p) => join(ROOT, p));
const replacementFiles = Object.values(REPLACEMENTS).map((p) => join(ROOT, p));

await Deno.remove(OUT, { recursive: true }).catch(() => {});

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022, // Node 20: no decorators, no `using` — both are lowered
  module: ts.ModuleKind.ES2022,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  allowImportingTsExtensions: true,
  rewriteRelativeImportExtensions: true,
  declaration: true,
  noCheck: true,
  skipLibCheck: true,
  rootDir: ROOT,
  outDir: ESM,
  newLine: ts.NewLineKind.LineFeed,
  removeComments: false,
  sourceMap: false,
  lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.esnext.disposable.d.ts"],
  types: [],
};
const program = ts.createProgram({ rootNames: [...entries, ...replacementFiles], options });
const emitted: string[] = [];
const result = program.emit(undefined, (fileName, text) => {
  Deno.mkdirSync(dirname(fileName), { recursive: true });
  Deno.writeTextFileSync(fileName, text);
  emitted.push(fileName);
});
const diagnostics = [...program.getSyntacticDiagnostics(), ...result.diagnostics];
if (diagnostics.length || result.emitSkipped) {
  console.error(ts.formatDiagnosticsWithColorAndContext(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => ROOT,
    getNewLine: () => "\n",
  }));
  fail("TypeScript emit failed");
}
for (const file of emitted) {
  if (!file.startsWith(ESM + "/")) fail(`emitted outside ${ESM}: ${file}`);
}

// ---- 2. rewrite specifiers --------------------------------------------------------------------

const outPath = (source: string, ext: ".js" | ".d.ts") => join(ESM, source.replace(/\.ts$/, ext));

/** The module specifiers of a JS or .d.ts file (comments and strings ignored), with positions. */
function specifiers(text: string): ts.FileReference[] {
  const info = ts.preProcessFile(text, true, true);
  return [...info.importedFiles, ...info.typeReferenceDirectives.map((r) => ({ ...r, pos: -1 }))];
}

function rewriteSpecifier(file: string, spec: string): string {
  if (spec.startsWith("jsr:") || /^https?:/.test(spec)) {
    fail(`${relative(OUT, file)} imports ${spec}: map it to an npm package first`);
  }
  const npm = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)(?:@[^/]*)?(\/.*)?$/.exec(spec);
  if (npm) return npm[1] + (npm[2] ?? "");
  if (!spec.startsWith(".")) return spec;
  // Declarations keep `.ts` (TypeScript rewrites JavaScript only): point them at `.js` as well.
  if (/\.(?:m|c)?ts$/.test(spec) && !/\.d\.(?:m|c)?ts$/.test(spec)) {
    spec = spec.replace(/ts$/, "js");
  }
  const target = resolve(dirname(file), spec);
  for (const [from, to] of Object.entries(REPLACEMENTS)) {
    // The replacement itself may import types from the module it replaces.
    if (file.startsWith(outPath(to, ".js").replace(/\.js$/, "."))) continue;
    if (target === outPath(from, ".js")) {
      const rel = relative(dirname(file), outPath(to, ".js"));
      return rel.startsWith(".") ? rel : `./${rel}`;
    }
  }
  return spec;
}

function rewrite(file: string, text: string): string {
  let out = "";
  let last = 0;
  for (const ref of specifiers(text).filter((r) => r.pos >= 0).sort((a, b) => a.pos - b.pos)) {
    const next = rewriteSpecifier(file, ref.fileName);
    if (next === ref.fileName) continue;
    // `pos` may point at the opening quote: locate the specifier itself.
    const start = text.indexOf(ref.fileName, ref.pos);
    out += text.slice(last, start) + next;
    last = start + ref.fileName.length;
  }
  return out + text.slice(last);
}

for (const file of emitted) {
  const text = await Deno.readTextFile(file);
  const next = rewrite(file, text);
  if (next !== text) await Deno.writeTextFile(file, next);
}
// Plain JavaScript the output imports (TypeScript emits .ts only): copy it with its declarations.
const copied: string[] = [];
for (let i = 0; i < emitted.length + copied.length; i++) {
  const file = i < emitted.length ? emitted[i] : copied[i - emitted.length];
  for (const ref of specifiers(await Deno.readTextFile(file))) {
    if (!ref.fileName.startsWith(".") || !/\.m?js$/.test(ref.fileName)) continue;
    const target = resolve(dirname(file), ref.fileName);
    if (!target.startsWith(ESM + "/") || emitted.includes(target) || copied.includes(target)) {
      continue;
    }
    const source = join(ROOT, relative(ESM, target));
    try {
      await Deno.stat(target);
      continue; // emitted from a .ts of the same name
    } catch {
      // not emitted: copy it from the sources
    }
    try {
      await Deno.copyFile(source, target);
    } catch {
      fail(
        `${relative(OUT, file)} imports ${ref.fileName}, which is neither emitted nor in ${
          relative(ROOT, source)
        }`,
      );
    }
    copied.push(target);
    const dts = source.replace(/\.(m?)js$/, ".d.$1ts");
    await Deno.copyFile(dts, target.replace(/\.(m?)js$/, ".d.$1ts")).catch(() => {});
  }
}

// The replaced modules' code is not part of the package (their declarations stay: the
// replacements re-export their types).
for (const from of Object.keys(REPLACEMENTS)) await Deno.remove(outPath(from, ".js"));

// ---- 3. dependencies from the bare imports of the output --------------------------------------

const builtins = new Set(builtinModules);
function packageName(spec: string): string | undefined {
  if (spec.startsWith(".") || spec.startsWith("/") || spec.startsWith("node:")) return undefined;
  const parts = spec.split("/");
  const name = spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  return builtins.has(name) ? undefined : name;
}

function versionOf(name: string): string {
  const mapped = denoJson.imports[name];
  const m = mapped && /^npm:(?:@[^/@]+\/)?[^/@]+@([^/]+)/.exec(mapped);
  if (!m) fail(`the output imports "${name}", which deno.json does not map to an npm: version`);
  return m[1];
}

const jsImports = new Set<string>();
const typeImports = new Set<string>();
/** Per output file: the packages it imports and the package files it imports. */
const graph = new Map<string, { packages: Set<string>; files: string[] }>();
for await (const file of walk(ESM)) {
  const text = await Deno.readTextFile(file);
  const node = { packages: new Set<string>(), files: [] as string[] };
  graph.set(file, node);
  for (const ref of specifiers(text)) {
    const name = packageName(ref.fileName);
    if (name) {
      (file.endsWith(".d.ts") ? typeImports : jsImports).add(name);
      node.packages.add(name);
    } else if (ref.fileName.startsWith(".")) {
      node.files.push(resolve(dirname(file), ref.fileName.replace(/\.d\.ts$/, ".js")));
    }
  }
}
/** The packages the JavaScript of export `key` loads (its whole static and dynamic graph). */
function packagesOf(entry: string): Set<string> {
  const seen = new Set<string>();
  const found = new Set<string>();
  const stack = [entry];
  while (stack.length) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const node = graph.get(file);
    if (!node) continue;
    node.packages.forEach((p) => found.add(p));
    stack.push(...node.files);
  }
  return found;
}
const rootPackages = packagesOf(outPath(denoJson.exports["."], ".js"));
/** Package → the exports that load it. */
const neededBy = new Map<string, string[]>();
for (const [key, source] of Object.entries(denoJson.exports)) {
  for (const name of packagesOf(outPath(source, ".js"))) {
    neededBy.set(name, [...(neededBy.get(name) ?? []), key]);
  }
}

const dependencies: Record<string, string> = {};
const peerDependencies: Record<string, string> = {};
const peerDependenciesMeta: Record<string, { optional: true }> = {};
const optionalPeer = (name: string) => {
  peerDependencies[name] = versionOf(name);
  peerDependenciesMeta[name] = { optional: true };
};
for (const name of [...jsImports].sort()) {
  if (PEERS.has(name)) continue;
  // Needed by the root export: always installed. Otherwise only the subpaths that load it need it.
  if (rootPackages.has(name)) dependencies[name] = versionOf(name);
  else optionalPeer(name);
}
// Peers are declared whether or not the output imports them (the core takes any Standard Schema,
// so a peer that is never imported at run time is optional).
for (const name of [...PEERS].sort()) {
  peerDependencies[name] = versionOf(name);
  if (!jsImports.has(name) && !typeImports.has(name)) {
    peerDependenciesMeta[name] = { optional: true };
  }
}
// Types the public .d.ts need beyond the packages themselves (e.g. ws ships no types): as
// optional as the package they describe.
for (const name of [...typeImports].sort()) {
  if (jsImports.has(name) || PEERS.has(name)) continue;
  dependencies[name] ??= versionOf(name);
}
for (const name of [...typeImports].sort()) {
  const types = `@types/${name.replace(/^@/, "").replace("/", "__")}`;
  if (!denoJson.imports[types]) continue;
  if (dependencies[name]) dependencies[types] = versionOf(types);
  else optionalPeer(types);
}

// ---- 4. package.json, README, LICENSE ---------------------------------------------------------

const exportsMap: Record<string, { types: string; import: string; default: string }> = {};
for (const [key, source] of Object.entries(denoJson.exports)) {
  const rel = source.replace(/^\.\//, "");
  const js = `./esm/${rel.replace(/\.ts$/, ".js")}`;
  const dts = `./esm/${rel.replace(/\.ts$/, ".d.ts")}`;
  for (const f of [js, dts]) {
    try {
      await Deno.stat(join(OUT, f));
    } catch {
      fail(`export "${key}" → ${f} was not emitted`);
    }
  }
  exportsMap[key] = { types: dts, import: js, default: js };
}

// The `switchboard` command (cli/mod.ts) as the package's bin.
const BIN = "esm/cli/bin.js";
if (exportsMap["./cli"]) {
  await Deno.writeTextFile(
    join(OUT, BIN),
    `#!/usr/bin/env node\n// switchboard asyncapi|client (see ./mod.js)\nimport process from "node:process";\n` +
      `import { main } from "./mod.js";\n\nprocess.exit(await main(process.argv.slice(2)));\n`,
  );
  await Deno.chmod(join(OUT, BIN), 0o755);
}

const packageJson = {
  name: denoJson.name,
  version,
  description: denoJson.description ??
    "Structured, typed WebSocket apps for Deno and Node: consumers, channel layers, jobs, AsyncAPI, testing.",
  license: denoJson.license ?? "MIT",
  type: "module",
  engines: { node: ">=20" },
  main: exportsMap["."]?.import,
  types: exportsMap["."]?.types,
  exports: exportsMap,
  ...(exportsMap["./cli"] ? { bin: { switchboard: `./${BIN}` } } : {}),
  files: ["esm/", "README.md", "LICENSE"],
  dependencies,
  peerDependencies,
  ...(Object.keys(peerDependenciesMeta).length ? { peerDependenciesMeta } : {}),
};
await Deno.writeTextFile(join(OUT, "package.json"), JSON.stringify(packageJson, null, 2) + "\n");
for (const name of ["README.md", "LICENSE"]) {
  try {
    await Deno.copyFile(join(ROOT, name), join(OUT, name));
  } catch {
    fail(`${name} is missing at the repository root (package.json's "files" ships it)`);
  }
}

const count = emitted.length + copied.length - Object.keys(REPLACEMENTS).length;
console.log(
  `build:npm: ${packageJson.name}@${version} → ${relative(ROOT, OUT)}/ (${count} files; ` +
    `exports ${Object.keys(exportsMap).join(", ")}; dependencies ${
      JSON.stringify(dependencies)
    }; peers ${JSON.stringify(peerDependencies)}; subpaths needing optional peers ${
      JSON.stringify(
        Object.fromEntries(
          [...neededBy].filter(([n]) => peerDependenciesMeta[n] && !PEERS.has(n)),
        ),
      )
    })`,
);

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path);
    else if (entry.isFile) yield path;
  }
}
