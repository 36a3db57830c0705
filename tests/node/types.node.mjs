/**
 * The package's declarations compile for a TypeScript user on Node: `tsc` (strict, NodeNext,
 * skipLibCheck off, @types/node 20) over tests/node/types/index.ts, which imports and uses every
 * export (checked here against the installed package.json, so a new export needs a use there).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
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

it("the type test imports every subpath of package.json exports", () => {
  const pkg = JSON.parse(
    readFileSync(
      new URL("../../node_modules/@switchboard/switchboard/package.json", import.meta.url),
    ),
  );
  const source = readFileSync(new URL("./types/index.ts", import.meta.url), "utf8");
  const imported = new Set(
    [...source.matchAll(/from "(@switchboard\/switchboard[^"]*)"/g)].map((m) => m[1]),
  );
  for (const subpath of Object.keys(pkg.exports)) {
    assert.ok(
      imported.has(pkg.name + subpath.slice(1)),
      `types/index.ts does not import ${subpath}`,
    );
  }
});
