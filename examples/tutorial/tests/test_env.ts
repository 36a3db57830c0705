/**
 * Imported first by every tutorial test: turns completion signals on, as the testing chapter's
 * pytest.ini does (`deno task test` sets SEND_COMPLETION too).
 */
if (!Deno.env.get("SEND_COMPLETION")) Deno.env.set("SEND_COMPLETION", "1");
