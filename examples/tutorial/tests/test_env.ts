/**
 * Imported first by every tutorial test: turns completion signals on, as the testing chapter's
 * pytest.ini does (`deno task test` sets SEND_COMPLETION too), and gives this test file its own
 * Redis namespace so that test files running at the same time never share groups.
 *
 * The namespace is this file's, not the process's: under `deno test --parallel` every test file
 * runs in the same process (one environment), so it is not taken from or written to
 * SWITCHBOARD_PREFIX (unless the run set one); the tutorial's layers are registered with it here,
 * before the app module registers them. (A static import: layers.ts and what it imports read the
 * environment only when called. A dynamic one would make this module async, and the app module,
 * which does not import this one, could then be evaluated first.)
 */
import { setupLayers } from "../layers.ts";
import { overrideSettings } from "../settings.ts";

if (!Deno.env.get("SEND_COMPLETION")) Deno.env.set("SEND_COMPLETION", "1");
// Job delays are real but scaled: 2 s of "translation" become 10 ms.
if (!Deno.env.get("JOB_DELAY_SCALE")) Deno.env.set("JOB_DELAY_SCALE", "0.005");
// The ported Chanx tests assert Chanx's frames: the chats' history (docs/recovery.md) is off here
// (room_chat_history_test.ts turns it on for itself).
if (!Deno.env.get("CHAT_HISTORY")) Deno.env.set("CHAT_HISTORY", "off");

/** This test file's Redis namespace (pass it as SWITCHBOARD_PREFIX to processes it starts). */
export const TEST_PREFIX: string = Deno.env.get("SWITCHBOARD_PREFIX") ??
  `test-${crypto.randomUUID().slice(0, 8)}`;

// The tutorial tests run on the Redis that REDIS_URL names (else in memory), whatever NATS_URL the
// shell has: with it, the app would switch to NATS layers, which these tests do not expect.
// nats_cross_process_test.ts runs the tutorial on a nats-server of its own (NATS_URL given to its
// child processes); CHILD_ENV keeps a shell's NATS_URL from the other tests' children.
overrideSettings({ NATS_URL: undefined });

/** What the tests' child processes add to this environment: no NATS_URL of the shell's. */
export const CHILD_ENV: Readonly<Record<string, string>> = { NATS_URL: "" };

setupLayers({ prefix: TEST_PREFIX });
