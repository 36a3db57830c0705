/**
 * The live inspector page of a Switchboard server: `mountInspector(app, { token })` serves
 * `/inspector` (open it as `/inspector?token=…`), which follows the app's connections, groups
 * and their sizes, rates per action, recent errors, job queues and layer health over its own
 * WebSocket. Off unless mounted; refused without its token (401) or with another (403).
 * docs/observability.md shows a reading.
 *
 * ```ts ignore
 * import { mountInspector } from "@switchboard/switchboard/inspector";
 * mountInspector(app, { token: Deno.env.get("INSPECTOR_TOKEN")! });
 * ```
 *
 * @module
 */
export { INSPECTOR_SNAPSHOT_ACTION, mountInspector, type MountInspectorOptions } from "./mount.ts";
export {
  type ActionRate,
  type ConnectionRow,
  type InspectorSnapshot,
  SNAPSHOT_LIMIT,
  SnapshotTaker,
} from "../../src/observe/snapshot.ts";
