/**
 * `deno task test:node`: runs the Node suite (tests/node/*.node.mjs, node:test) against the built
 * package the way a user gets it — `npm pack` of `npm/` installed with `npm install` into a
 * scratch directory outside the repository (so nothing resolves from the repo's node_modules).
 *
 * Run `deno task build:npm` first. Options: `--keep` keeps the scratch directory; `--bun` runs the
 * same files on Bun (`bun test`, which runs node:test suites; Bun found as in scripts/bun.ts) instead
 * of Node; any other arguments are test files (default: every tests/node/*.node.mjs). REDIS_URL is
 * passed through.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findBun } from "./bun.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const NPM = join(ROOT, "npm");
const keep = Deno.args.includes("--keep");
const onBun = Deno.args.includes("--bun");
const only = Deno.args.filter((a) => !a.startsWith("--"));

function fail(message: string): never {
  console.error(`test:node: ${message}`);
  Deno.exit(1);
}

async function run(cmd: string, args: string[], cwd: string, quiet = false): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "piped",
    stderr: quiet ? "piped" : "inherit",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    if (quiet) console.error(new TextDecoder().decode(out.stderr));
    fail(`${cmd} ${args.join(" ")} failed (in ${cwd}):\n${stdout}`);
  }
  return stdout;
}

async function copyDir(from: string, to: string, filter: (name: string) => boolean) {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isFile && filter(entry.name)) {
      await Deno.copyFile(join(from, entry.name), join(to, entry.name));
    }
  }
}

/** The first ```js block of README.md's "## Node" section, if any. */
async function readmeNodeExample(): Promise<string | undefined> {
  let readme: string;
  try {
    readme = await Deno.readTextFile(join(ROOT, "README.md"));
  } catch {
    return undefined;
  }
  const section = /^## Node\b[^\n]*\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme)?.[1];
  return section && /```js\n([\s\S]*?)```/.exec(section)?.[1];
}

const pkg = await Deno.readTextFile(join(NPM, "package.json")).catch(() =>
  fail("npm/package.json is missing: run `deno task build:npm` first")
);
const { name, peerDependencies = {} } = JSON.parse(pkg) as {
  name: string;
  peerDependencies?: Record<string, string>;
};
const denoJson = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))) as {
  imports: Record<string, string>;
};
const npmRange = (pkgName: string) =>
  /^npm:(?:@[^/@]+\/)?[^/@]+@([^/]+)/.exec(denoJson.imports[pkgName] ?? "")?.[1] ?? "*";

const scratch = await Deno.makeTempDir({ prefix: "switchboard-node-" });
let code = 1;
try {
  // 1. the tarball a registry would serve
  const packed = (await run("npm", ["pack", "--silent", "--pack-destination", scratch], NPM, true))
    .trim().split("\n").pop()!;
  // 2. a user project: the package, its peers, and ws as the test client
  await Deno.writeTextFile(
    join(scratch, "package.json"),
    JSON.stringify(
      {
        private: true,
        type: "module",
        dependencies: {
          [name]: `file:./${packed}`,
          ...peerDependencies,
          ws: npmRange("ws"),
        },
        // types.node.mjs: what a TypeScript user on Node 20 compiles with
        devDependencies: {
          typescript: "~5.9.3",
          "@types/node": "^20",
          "@types/ws": npmRange("@types/ws"),
        },
      },
      null,
      2,
    ),
  );
  console.log(`test:node: installing ${packed} into ${scratch}`);
  await run(
    "npm",
    ["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefer-offline"],
    scratch,
    true,
  );
  // 3. the suite and the examples it runs, at the same relative paths as in the repo
  await copyDir(join(ROOT, "tests/node"), join(scratch, "tests/node"), (n) => n.endsWith(".mjs"));
  await copyDir(join(ROOT, "tests/node/types"), join(scratch, "tests/node/types"), () => true);
  await copyDir(
    join(ROOT, "examples/node"),
    join(scratch, "examples/node"),
    (n) => n.endsWith(".mjs"),
  );
  const example = await readmeNodeExample();
  if (example) {
    await Deno.writeTextFile(join(scratch, "examples/node/readme_example.mjs"), example);
  } else {
    console.warn("test:node: README.md has no ```js block under '## Node': its test is skipped");
  }
  const files = only.length
    ? only.map((f) => join("tests/node", f.replace(/^.*\//, "")))
    : [...Deno.readDirSync(join(scratch, "tests/node"))]
      .map((e) => e.name).filter((n) => n.endsWith(".node.mjs")).sort()
      .map((n) => join("tests/node", n));
  let status: Deno.CommandOutput;
  if (onBun) {
    const bun = findBun() ?? fail("--bun: bun not found (source .ci/bun.sh; ensure_bun)");
    const version = (await run(bun, ["--version"], scratch, true)).trim();
    console.log(`test:node: bun ${version} test ${files.join(" ")}`);
    status = await new Deno.Command(bun, {
      // `./` makes each a path, not a name filter; tsc in types.node.mjs needs more than 5 s.
      args: ["test", "--timeout", "60000", ...files.map((f) => `./${f}`)],
      cwd: scratch,
      stdout: "inherit",
      stderr: "inherit",
      env: { SEND_COMPLETION: "1" },
    }).output();
  } else {
    const version = (await run("node", ["--version"], scratch, true)).trim();
    console.log(`test:node: node ${version} --test ${files.join(" ")}`);
    status = await new Deno.Command("node", {
      args: ["--test", "--test-reporter=spec", ...files],
      cwd: scratch,
      stdout: "inherit",
      stderr: "inherit",
      env: { SEND_COMPLETION: "1" },
    }).output();
  }
  code = status.code;
} finally {
  if (keep) console.log(`test:node: kept ${scratch}`);
  else await Deno.remove(scratch, { recursive: true });
}
Deno.exit(code);
