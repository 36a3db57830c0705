/**
 * Every ```ts block of README.md and docs/*.md type-checks (`deno check`) against the package's
 * public entry points, so a snippet cannot use an undefined name or an API that changed. A block
 * that is deliberately not a whole module (a method excerpt, a signature) says so in its info
 * string: ```ts fragment. Blocks starting with `// name.ts` are written under that name, so one
 * may import another (`./main.ts`); the `*_test.ts` ones of docs/ pages then run with `deno test`
 * (README.md's run in readme_test.ts, with its server).
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { type CodeBlock, codeBlocks, ROOT } from "./markdown.ts";

async function pages(): Promise<string[]> {
  const out = [join(ROOT, "README.md")];
  for await (const entry of Deno.readDir(join(ROOT, "docs"))) {
    if (entry.isFile && entry.name.endsWith(".md")) out.push(join(ROOT, "docs", entry.name));
  }
  return out.sort();
}

/** An import map: the repository's imports plus every export as `@switchboard/switchboard/…`. */
async function importMap(): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))) as {
    imports: Record<string, string>;
    exports: Record<string, string>;
  };
  const abs = (v: string) => v.startsWith("./") ? join(ROOT, v) : v;
  const imports: Record<string, string> = {};
  for (const [k, v] of Object.entries(config.imports)) imports[k] = abs(v);
  for (const [k, v] of Object.entries(config.exports)) {
    imports[`@switchboard/switchboard${k === "." ? "" : k.slice(1)}`] = abs(v);
  }
  return JSON.stringify({ imports }, null, 2);
}

Deno.test("docs: every ts snippet type-checks (fragments excepted)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-snippets-" });
  try {
    const files: string[] = [];
    const where = new Map<string, { page: string; line: number }>();
    let fragments = 0;
    for (const page of await pages()) {
      const blocks = codeBlocks(await Deno.readTextFile(page)).filter((b) => b.lang === "ts");
      const pageDir = join(dir, basename(page, ".md"));
      await Deno.mkdir(pageDir);
      for (const block of blocks as CodeBlock[]) {
        if (/\bfragment\b/.test(block.info)) {
          fragments++;
          continue;
        }
        const file = join(pageDir, block.file ?? `line_${block.line}.ts`);
        await Deno.writeTextFile(file, block.code);
        files.push(file);
        where.set(file, { page: basename(page), line: block.line });
      }
    }
    assert.ok(files.length >= 4, `only ${files.length} snippets found`);
    const map = join(dir, "import_map.json");
    await Deno.writeTextFile(map, await importMap());
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--config", join(ROOT, "deno.json"), "--import-map", map, ...files],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    // file:///tmp/…/line_8.ts:3:5 → layers.md:11:5 (the line in the page)
    let text = new TextDecoder().decode(out.stderr).replace(/^Check .*\n/gm, "");
    for (const [file, { page, line }] of where) {
      text = text.replace(
        new RegExp(`file://${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:(\\d+):(\\d+)`, "g"),
        (_m, l, c) => `${page}:${line + Number(l)}:${c}`,
      );
    }
    assert.ok(out.success, `snippets that do not type-check:\n${text}`);
    console.log(`${files.length} snippets checked, ${fragments} fragments skipped`);

    const tests = files.filter((f) => f.endsWith("_test.ts") && where.get(f)!.page !== "README.md");
    assert.ok(tests.length >= 1, "no docs page has a // name_test.ts block");
    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "--no-check",
        // The "Testing failures" examples start servers and processes.
        "--allow-all",
        "--config",
        join(ROOT, "deno.json"),
        "--import-map",
        map,
        ...tests,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const ran = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
    assert.ok(run.success, `docs tests failed:\n${ran}`);
    assert.match(ran, /\| 0 failed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
