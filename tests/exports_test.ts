/**
 * Export snapshot: every entry point listed in deno.json "exports" is imported, and its exported
 * names are compared with the checked-in `tests/exports.snapshot.json`, so that moving files
 * cannot drop (or rename) a public name silently.
 *
 * Per entry point the snapshot holds two sorted lists:
 * - `values`: the names of the runtime exports (`Object.keys` of the imported module);
 * - `types`: the type-only exports (interfaces, type aliases), read from `deno doc --json` over
 *   every entry point in one subprocess: the names it documents that are not runtime values.
 *
 * After an INTENDED change of the public API, refresh the snapshot and commit it:
 *
 *     UPDATE_SNAPSHOT=1 deno test --allow-all tests/exports_test.ts
 *
 * A failure lists, per entry point, the names added and removed since the snapshot.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const SNAPSHOT = new URL("exports.snapshot.json", import.meta.url);

/** The exported names of one entry point. */
interface Exported {
  values: string[];
  types: string[];
}
type Snapshot = Record<string, Exported>;

/** deno.json "exports": entry point (".", "./testing", …) → file, in sorted order. */
async function entryPoints(): Promise<Array<[string, URL]>> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const exports: Record<string, string> = typeof config.exports === "string"
    ? { ".": config.exports }
    : config.exports;
  return Object.entries(exports)
    .map(([entry, file]): [string, URL] => [entry, new URL(file, ROOT)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** `deno doc --json` over `files`: file URL → names of the symbols it exports. */
async function documentedNames(files: URL[]): Promise<Map<string, string[]>> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...files.map((f) => decodeURIComponent(f.pathname))],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`deno doc --json failed (${code}):\n${new TextDecoder().decode(stderr)}`);
  }
  // Format 2: { version, nodes: { [url]: { symbols: [{ name, declarations: [...] }] } } }.
  const doc = JSON.parse(new TextDecoder().decode(stdout)) as {
    version?: number;
    nodes?: Record<string, { symbols?: Array<{ name: string }> }>;
  };
  assert.ok(doc.nodes, `deno doc --json: unexpected output format (version ${doc.version})`);
  const names = new Map<string, string[]>();
  for (const [url, node] of Object.entries(doc.nodes)) {
    names.set(url, (node.symbols ?? []).map((s) => s.name));
  }
  return names;
}

const sorted = (names: Iterable<string>) => [...new Set(names)].sort();

/** The exported names of every entry point, as they are now. */
async function currentExports(): Promise<Snapshot> {
  const entries = await entryPoints();
  const documented = await documentedNames(entries.map(([, file]) => file));
  const current: Snapshot = {};
  for (const [entry, file] of entries) {
    const values = sorted(Object.keys(await import(file.href)));
    const docNames = documented.get(file.href);
    assert.ok(docNames, `deno doc --json did not document ${entry} (${file.href})`);
    current[entry] = { values, types: sorted(docNames.filter((n) => !values.includes(n))) };
  }
  return current;
}

/** What changed between `before` and `after`, one line per change; empty when nothing did. */
function describeChanges(before: Snapshot, after: Snapshot): string[] {
  const lines: string[] = [];
  for (const entry of sorted([...Object.keys(before), ...Object.keys(after)])) {
    if (!(entry in after)) lines.push(`${entry}: entry point removed`);
    if (!(entry in before)) lines.push(`${entry}: entry point added`);
    for (const kind of ["values", "types"] as const) {
      const was = before[entry]?.[kind] ?? [];
      const now = after[entry]?.[kind] ?? [];
      const added = now.filter((n) => !was.includes(n));
      const removed = was.filter((n) => !now.includes(n));
      if (added.length) lines.push(`${entry} ${kind} added: ${added.join(", ")}`);
      if (removed.length) lines.push(`${entry} ${kind} removed: ${removed.join(", ")}`);
    }
  }
  return lines;
}

Deno.test("the exported names of every deno.json entry point match tests/exports.snapshot.json", async () => {
  const current = await currentExports();
  if (Deno.env.get("UPDATE_SNAPSHOT") === "1") {
    await Deno.writeTextFile(SNAPSHOT, JSON.stringify(current, null, 2) + "\n");
    console.log(`Wrote ${SNAPSHOT.pathname}`);
    return;
  }
  let snapshot: Snapshot;
  try {
    snapshot = JSON.parse(await Deno.readTextFile(SNAPSHOT));
  } catch (error) {
    throw new Error(
      `Cannot read ${SNAPSHOT.pathname} (${error}); create it with ` +
        "UPDATE_SNAPSHOT=1 deno test --allow-all tests/exports_test.ts",
    );
  }
  const changes = describeChanges(snapshot, current);
  if (changes.length) {
    assert.fail(
      `The public API differs from tests/exports.snapshot.json:\n  ${changes.join("\n  ")}\n` +
        "If the change is intended, refresh the snapshot: " +
        "UPDATE_SNAPSHOT=1 deno test --allow-all tests/exports_test.ts",
    );
  }
  assert.deepEqual(current, snapshot); // same names: also the same order and form
});

Deno.test("the snapshot diff names what was added and removed", () => {
  const before: Snapshot = { ".": { values: ["App", "gone"], types: ["AppOptions"] } };
  const after: Snapshot = {
    ".": { values: ["App", "fresh"], types: [] },
    "./new": { values: ["x"], types: [] },
  };
  assert.deepEqual(describeChanges(before, after), [
    ". values added: fresh",
    ". values removed: gone",
    ". types removed: AppOptions",
    "./new: entry point added",
    "./new values added: x",
  ]);
  assert.deepEqual(describeChanges(after, after), []);
});
