/**
 * Finding Bun for the tests and tasks that run something on it: `$BUN`, else `bun` on PATH, else
 * the copy `.ci/bun.sh`'s `ensure_bun` installs from npm (~/.cache/switchboard/bun). And running
 * a module on Bun with the repository's import map (bun.tsconfig.json).
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The path of a Bun executable, or `undefined` when there is none. */
export function findBun(): string | undefined {
  const candidates = [
    Deno.env.get("BUN"),
    ...(Deno.env.get("PATH") ?? "").split(":").filter(Boolean).map((d) => join(d, "bun")),
    join(Deno.env.get("HOME") ?? "/root", ".cache/switchboard/bun/node_modules/.bin/bun"),
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
  return [`--tsconfig-override=${join(ROOT, "bun.tsconfig.json")}`, "run", module, ...args];
}
