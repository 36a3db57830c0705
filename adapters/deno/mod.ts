/**
 * Deno's runtime adapter: {@linkcode App} (the app of the main entry point, whose `fetch`
 * upgrades with `Deno.upgradeWebSocket`), {@linkcode upgradeWithDeno} (the upgrader itself, for
 * wiring a {@linkcode BaseApp} by hand) and {@linkcode BaseApp} (the runtime-neutral app it
 * extends; its `fetch` answers upgrades with 501 unless given an upgrader). No side effects on
 * import. The seam it implements: src/runtime/seam.ts.
 *
 * ```ts
 * import { App } from "@switchboard/switchboard"; // the same class as this module's App
 *
 * Deno.serve(new App().ws("/ws/echo", Echo).fetch);
 * ```
 *
 * @module
 */
export { App } from "./app.ts";
export { upgradeWithDeno } from "./websocket.ts";
export { App as BaseApp } from "../../src/app/app.ts";
export type { RuntimeUpgradeOptions, RuntimeUpgrader } from "../../src/runtime/seam.ts";
