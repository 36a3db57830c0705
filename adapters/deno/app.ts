/**
 * The `App` of the main entry point: the runtime-neutral core app (src/app/app.ts) with Deno's
 * upgrader, so that `Deno.serve(new App().fetch)` completes WebSocket upgrades. Wiring it here,
 * in a subclass, keeps every import free of side effects: nothing global is set, the core never
 * names Deno, and a core app without an upgrader answers `fetch` upgrades with 501.
 *
 * @module
 */
import { App as BaseApp } from "../../src/app/app.ts";
import type { AppOptions } from "../../src/app/options.ts";
import { upgradeWithDeno } from "./websocket.ts";

/**
 * A Switchboard application: WebSocket routes to consumers, HTTP routes to handlers, one `fetch`
 * for `Deno.serve`, and clean shutdown. On Node, serve it with adapters/node (`fetch` answers
 * upgrades with 501 where there is no Deno).
 */
export class App extends BaseApp {
  /** Creates an app whose `fetch` upgrades WebSockets with `Deno.upgradeWebSocket`. */
  constructor(options: AppOptions = {}) {
    super(options, upgradeWithDeno);
  }
}
