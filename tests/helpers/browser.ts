/**
 * Headless Chromium for the browser tests: Debian's `chromium` (CHROMIUM_PATH to override) driven
 * by playwright-core. Without it, tests skip locally and fail under CI.
 */
import { type Browser, chromium } from "playwright-core";

/** The Chromium binary. */
export const CHROMIUM: string = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/** Where tests save screenshots (git-ignored). */
export const SCREENSHOTS: URL = new URL("../screenshots/", import.meta.url);

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** True when Chromium is installed; under CI a missing one is an error, not a skip. */
export const haveChromium: boolean = exists(CHROMIUM);
if (!haveChromium && Deno.env.get("CI")) {
  throw new Error(
    `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`,
  );
}

/**
 * Launches headless Chromium with the flags this machine's closed network needs, plus `extraArgs`
 * (e.g. `--host-resolver-rules=MAP app.test 127.0.0.1` to open a page under a name).
 */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      ...extraArgs,
    ],
  });
}
