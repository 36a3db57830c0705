/**
 * Running something on Bun, for the tasks and tests that do (`deno task dev:bun`,
 * tests/runtime/bun_test.ts): finds Bun — `$BUN`, else `bun` on PATH, else the copy `.ci/bun.sh`'s
 * `ensure_bun` installs from npm (~/.cache/switchboard/bun) — and runs a module with the
 * repository's import map (bun.tsconfig.json).
 *
 * As a script: `deno run -A scripts/bun.ts <module> [args…]` runs `<module>` on Bun with this
 * process's environment and stdio, forwarding SIGINT/SIGTERM, and exits with its code.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT: string = resolve(
  dirname(fileURLToPath(import.meta.url)),
  "..",
);

/** The path of a Bun executable, or `undefined` when there is none. */
export function findBun(): string | undefined {
  const candidates = [
    Deno.env.get("BUN"),
    ...(Deno.env.get("PATH") ?? "").split(":").filter(Boolean).map((d) => join(d, "bun")),
    join(
      Deno.env.get("HOME") ?? "/root",
      ".cache/switchboard/bun/node_modules/.bin/bun",
    ),
  ];
  for (const path of candidates) {
    if (!path) continue;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** `bun --tsconfig-override=bun.tsconfig.json run <module> ...args`, from the repository root. */
export function bunArgs(module: string, ...args: string[]): string[] {
  return [
    `--tsconfig-override=${join(ROOT, "bun.tsconfig.json")}`,
    "run",
    module,
    ...args,
  ];
}

if (import.meta.main) {
  const [module, ...args] = Deno.args;
  const bun = findBun();
  if (!module || !bun) {
    console.error(
      !module
        ? "usage: deno run -A scripts/bun.ts <module> [args…]"
        : "bun not found: source .ci/bun.sh && ensure_bun (installs it from npm), or set BUN",
    );
    Deno.exit(1);
  }
  const child = new Deno.Command(bun, {
    args: bunArgs(resolve(module), ...args),
    cwd: ROOT,
  })
    .spawn();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => child.kill(signal));
  }
  Deno.exit((await child.status).code);
}
