/**
 * `deno task dev:node`: the tutorial app on Node. Node 20 runs no TypeScript, so this compiles
 * examples/tutorial/main_node.ts with everything it imports (the tutorial and the library) with
 * ./compile_node.ts into `.dev-node/` at the repository root, copies the
 * page's files next to their modules, and runs it with `node`, passing the environment (PORT,
 * REDIS_URL, SEND_COMPLETION…) and SIGINT/SIGTERM through.
 *
 * `deno task dev:node --build-only` only compiles (prints the entry to run).
 *
 * @module
 */
import { join, relative } from "node:path";
import { compileForNode, ROOT } from "./compile_node.ts";

const OUT = join(ROOT, ".dev-node");
const ENTRY = join(ROOT, "examples/tutorial/main_node.ts");

const [main] = await compileForNode([ENTRY], OUT).catch((error) => {
  console.error(`dev:node: ${error.message}`);
  Deno.exit(1);
});
// The files the page serves (read next to their modules) and the plain JavaScript client.
for (const dir of ["examples/tutorial/static", "client"]) {
  for await (const entry of Deno.readDir(join(ROOT, dir))) {
    if (!entry.isFile || entry.name.endsWith(".ts")) continue;
    await Deno.mkdir(join(OUT, dir), { recursive: true });
    await Deno.copyFile(join(ROOT, dir, entry.name), join(OUT, dir, entry.name));
  }
}
console.error(`dev:node: compiled into ${relative(ROOT, OUT)}/`);
if (Deno.args.includes("--build-only")) {
  console.log(main);
  Deno.exit(0);
}
const child = new Deno.Command("node", { args: [main, ...Deno.args], cwd: ROOT }).spawn();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => child.kill(signal));
}
Deno.exit((await child.status).code);
