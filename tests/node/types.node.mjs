/**
 * The package's declarations compile for a TypeScript user on Node: `tsc` (strict, NodeNext,
 * skipLibCheck off, @types/node 20) over tests/node/types/index.ts, which imports every export.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { it } from "node:test";

it("the .d.ts files type-check under tsc with Node types", () => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const project = fileURLToPath(new URL("./types/tsconfig.json", import.meta.url));
  const result = spawnSync(process.execPath, [tsc, "-p", project], { encoding: "utf8" });
  assert.equal(result.status, 0, `tsc failed:\n${result.stdout}${result.stderr}`);
});
