/**
 * `deno task test:repeat N [files…]`: runs the test suite (or the given files) N times, one run
 * after another, and reports every test that failed at least once, with how often — the input of
 * tests/FLAKES.md. Each run is the README's `deno task test` with the same environment (start a
 * private Redis first and export REDIS_URL to include the Redis tests). Exits 1 when any test
 * failed in any run.
 *
 * @module
 */

const [countArg, ...files] = Deno.args;
const runs = Number(countArg);
if (!Number.isInteger(runs) || runs < 1) {
  console.error("usage: deno task test:repeat N [test files…]   (N ≥ 1)");
  Deno.exit(2);
}

/** Test names of a run's FAILURES section (`name => file:line:col`), colour codes stripped. */
function failedTests(output: string): string[] {
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const start = plain.lastIndexOf(" FAILURES ");
  if (start === -1) return [];
  const names: string[] = [];
  for (const line of plain.slice(start).split("\n")) {
    const at = line.indexOf(" => ");
    if (at > 0) names.push(`${line.slice(0, at)} (${line.slice(at + 4).trim()})`);
    // A whole module failed: `./tests/x_test.ts (uncaught error)`.
    else if (line.startsWith("./") && line.endsWith(" (uncaught error)")) names.push(line.trim());
  }
  return names;
}

const failures = new Map<string, number>();
let brokenRuns = 0;
for (let i = 1; i <= runs; i++) {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "test", ...files],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const failed = failedTests(text);
  if (!out.success && failed.length === 0) brokenRuns++; // failed before any test ran
  for (const name of failed) failures.set(name, (failures.get(name) ?? 0) + 1);
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  console.log(`run ${i}/${runs}: ${out.success ? "ok" : `${failed.length} failed`} (${seconds} s)`);
  if (!out.success) {
    const log = await Deno.makeTempFile({ prefix: `test-repeat-${i}-`, suffix: ".log" });
    await Deno.writeTextFile(log, text);
    for (const name of failed) console.log(`  - ${name}`);
    console.log(`  output: ${log}`);
  }
}

console.log(`\n${runs} runs; ${failures.size} test(s) failed at least once`);
for (const [name, count] of [...failures].sort((a, b) => b[1] - a[1])) {
  console.log(`- ${count}/${runs}  ${name}`);
}
if (brokenRuns) console.log(`${brokenRuns} run(s) failed without a failing test (setup error)`);
Deno.exit(failures.size || brokenRuns ? 1 : 0);
