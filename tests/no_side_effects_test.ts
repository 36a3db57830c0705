/**
 * Importing the package does nothing: in a fresh `deno` subprocess, importing the "." entry point
 * of deno.json (mod.ts) adds no global and registers no channel layer; the in-memory default
 * layer is made on first use only (src/layers/registry.ts registers the built-in default when it
 * is first asked for).
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** Runs in the subprocess; prints what the import changed and what the first use made. */
const CHILD = `
const root = new URL(${JSON.stringify(ROOT.href)});
const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
const entry = typeof config.exports === "string" ? config.exports : config.exports["."];
const memoryEntry = config.exports["./adapters/memory"];
const globalsBefore = new Set(Object.getOwnPropertyNames(globalThis));
const mod = await import(new URL(entry, root).href);
const afterImport = {
  globals: Object.getOwnPropertyNames(globalThis).filter((n) => !globalsBefore.has(n)),
  aliases: mod.layers.aliases(),
};
// First use: a consumer that names no layer asks for its layer.
class Plain extends mod.Consumer {}
let firstUse;
try {
  const layer = Plain.getLayer();
  const { InMemoryChannelLayer } = await import(new URL(memoryEntry, root).href);
  firstUse = {
    aliases: mod.layers.aliases(),
    inMemory: layer instanceof InMemoryChannelLayer,
    same: Plain.getLayer() === layer,
  };
  await layer.close();
} catch (error) {
  firstUse = { error: String(error) };
}
console.log(JSON.stringify({ afterImport, firstUse }));
`;

Deno.test({
  name:
    "importing mod.ts registers no layer and adds no global; the default layer comes on first use",
  async fn() {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["eval", CHILD],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, `the subprocess failed:\n${err}`);
    const { afterImport, firstUse } = JSON.parse(new TextDecoder().decode(stdout));
    assert.deepEqual(afterImport.globals, [], "globals added by the import");
    assert.deepEqual(
      afterImport.aliases,
      [],
      `layers registered by the import alone: ${afterImport.aliases}`,
    );
    assert.deepEqual(firstUse, { aliases: ["default"], inMemory: true, same: true });
  },
});
