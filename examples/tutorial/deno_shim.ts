/**
 * The few `Deno` calls the tutorial's modules make (`Deno.env` for their settings, `Deno.readFile`
 * and `Deno.statSync` for the page's files, `Deno.args`, `Deno.exit`), answered from `node:process`
 * and `node:fs` where there is no Deno: what lets the same tutorial app run on Bun
 * (main_bun.ts) and Node (main_node.ts). Installed only when `globalThis.Deno` is missing; the
 * library itself never needs it. Import it before anything of the tutorial.
 */
import process from "node:process";
import { statSync } from "node:fs";
import { readFile } from "node:fs/promises";

const g = globalThis as { Deno?: unknown };
g.Deno ??= {
  env: {
    get: (name: string) => process.env[name],
    set: (name: string, value: string) => void (process.env[name] = value),
    delete: (name: string) => void delete process.env[name],
  },
  args: process.argv.slice(2),
  exit: (code?: number) => process.exit(code),
  readFile: async (path: string | URL) => new Uint8Array(await readFile(path)),
  statSync: (path: string | URL) => {
    const s = statSync(path);
    return { isFile: s.isFile(), isDirectory: s.isDirectory(), size: s.size };
  },
};
