/**
 * Imported first by every tutorial test: turns completion signals on, as the testing chapter's
 * pytest.ini does (`deno task test` sets SEND_COMPLETION too), and gives this test process its own
 * Redis namespace so that test files running at the same time never share groups.
 */
if (!Deno.env.get("SEND_COMPLETION")) Deno.env.set("SEND_COMPLETION", "1");
if (!Deno.env.get("SWITCHBOARD_PREFIX")) {
  Deno.env.set("SWITCHBOARD_PREFIX", `test-${crypto.randomUUID().slice(0, 8)}`);
}
// Job delays are real but scaled: 2 s of "translation" become 10 ms.
if (!Deno.env.get("JOB_DELAY_SCALE")) Deno.env.set("JOB_DELAY_SCALE", "0.005");
// The ported Chanx tests assert Chanx's frames: the chats' history (docs/recovery.md) is off here
// (room_chat_history_test.ts turns it on for itself).
if (!Deno.env.get("CHAT_HISTORY")) Deno.env.set("CHAT_HISTORY", "off");
