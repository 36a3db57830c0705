// The tutorial page: one typed client per panel, each on its own socket, connected to this host.
import { applyPresenceDiff, createClient } from "/static/client.js";

/** @param {string} selector */
const $ = (selector) => /** @type {HTMLElement} */ (document.querySelector(selector));

/**
 * @param {HTMLElement} list
 * @param {string} text
 * @param {string} [kind]
 */
function log(list, text, kind) {
  const item = document.createElement("li");
  item.textContent = text; // never innerHTML: messages are untrusted
  if (kind) item.className = kind;
  list.append(item);
  list.scrollTop = list.scrollHeight;
}

/** @param {HTMLElement} el @param {string} state */
function showState(el, state) {
  el.textContent = state;
  el.dataset.state = state;
}

/** Error frames: a list of `{msg}`, `{detail}` or `{reason, detail}`. */
function errorText(/** @type {any} */ payload) {
  if (Array.isArray(payload)) return payload.map((i) => i?.msg ?? JSON.stringify(i)).join("; ");
  if (payload && typeof payload === "object") {
    return [payload.reason, payload.detail].filter(Boolean).join(": ");
  }
  return String(payload);
}

/**
 * Asks the server which WebSocket routes it mounts and whether it accepts this page's origin
 * (`POST /page/check`: a POST, so that the browser sends its Origin header). One request, no
 * failed probes in the console.
 * @returns {Promise<{endpoints: string[], origin: {value: string | null, allowed: boolean, reason?: string}}>}
 */
async function pageCheck() {
  try {
    const response = await fetch("/page/check", { method: "POST" });
    if (response.ok) return await response.json();
    await response.body?.cancel();
  } catch {
    // an older server: assume everything is there
  }
  return { endpoints: [], origin: { value: null, allowed: true } };
}

const check = await pageCheck();
const mountedPaths = new Set(check.endpoints);
/** True when this server mounts a WebSocket at `path` (a `:param` route counts for its prefix). */
const mounted = (/** @type {string} */ path) =>
  check.endpoints.length === 0 || mountedPaths.has(path);

if (!check.origin.allowed) {
  // Say it here: a browser shows a refused WebSocket only as a failed connection.
  const banner = document.createElement("p");
  banner.dataset.testid = "origin-refused";
  banner.className = "banner error";
  banner.textContent = `⚠️ The server refuses WebSockets from this page's origin ` +
    `(${check.origin.value}): ${check.origin.reason}. Open the page at the address the server ` +
    `prints, or restart it with ALLOWED_ORIGINS=${check.origin.value}.`;
  $("header").append(banner);
}

/**
 * A client for `path` that shows its state in `stateEl` and its errors in `list`.
 * @param {string} path
 * @param {HTMLElement} stateEl
 * @param {HTMLElement} list
 */
function connect(path, stateEl, list) {
  if (!check.origin.allowed) {
    showState(stateEl, "refused");
    return createClient(path, { autoConnect: false });
  }
  const client = createClient(path, { reconnect: { initialDelayMs: 250, maxDelayMs: 3000 } });
  showState(stateEl, client.state);
  let wasOpen = false;
  client.onState((state) => {
    showState(stateEl, state);
    if (state === "reconnecting" && wasOpen) log(list, "Connection lost — reconnecting…", "info");
    wasOpen = state === "open";
  });
  client.onOpen(({ reconnected }) => {
    if (reconnected) log(list, "Reconnected", "info");
  });
  // Chats with history (docs/recovery.md): the client sends its last positions when it
  // reconnects and the server replays what was missed, or says it could not.
  client.onRecovery((outcome) => {
    if (outcome.recovered) {
      if (outcome.replayed) log(list, `↺ ${outcome.replayed} missed message(s) recovered`, "info");
    } else {
      log(list, `⚠️ Missed messages could not be recovered (${outcome.reason})`, "error");
    }
  });
  client.on("error", (m) => log(list, `⚠️ ${errorText(m.payload)}`, "error"));
  client.onError((e) => log(list, `⚠️ ${/** @type {Error} */ (e)?.message ?? e}`, "error"));
  return client;
}

/**
 * Wires a form: calls `send` with the form's values, then clears `message`/`content` inputs.
 * @param {string} selector
 * @param {(values: Record<string, string>) => void} send
 * @param {HTMLElement} list
 */
function onSubmit(selector, send, list) {
  const form = /** @type {HTMLFormElement} */ ($(selector));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = Object.fromEntries(
      [...new FormData(form).entries()].map(([k, v]) => [k, String(v)]),
    );
    try {
      send(values);
      for (const name of ["message", "content"]) {
        const input = /** @type {HTMLInputElement | null} */ (form.elements.namedItem(name));
        if (input) input.value = "";
      }
    } catch (error) {
      log(list, `⚠️ ${/** @type {Error} */ (error).message}`, "error");
    }
  });
}

// ---- System messages: a direct echo --------------------------------------------------------
{
  const list = $("[data-testid=system-log]");
  const system = connect("/ws/system", $("[data-testid=system-state]"), list);
  system.on("system_echo", (m) => log(list, m.payload.message));
  // For the console (and the end-to-end test): the page's clients.
  Object.assign(globalThis, { switchboardDemo: { system } });
  onSubmit(
    "[data-testid=system-form]",
    (v) => system.send({ action: "user_message", payload: { message: v.message } }),
    list,
  );
}

// ---- Room chat: join a room by name --------------------------------------------------------
/**
 * Who is online in the room: the presence list, kept up to date by its diffs (fetched again on
 * each (re)connect and after a `resync` diff).
 * @param {ReturnType<typeof createClient>} room
 */
function showOnline(room) {
  const el = $("[data-testid=room-online]");
  /** @type {Record<string, unknown[]>} */
  let entries = {};
  const render = () => {
    const keys = Object.keys(entries).sort();
    el.textContent = `Online (${keys.length}): ${keys.join(", ")}`; // textContent: untrusted keys
  };
  const fetchList = () =>
    room.presence(undefined, { diffs: true }).then((list) => {
      entries = list.entries;
      render();
    }, () => {});
  room.onOpen(fetchList);
  room.onPresence((diff) => {
    if (diff.resync) return void fetchList();
    applyPresenceDiff(entries, diff);
    render();
  });
}

{
  const list = $("[data-testid=room-log]");
  const stateEl = $("[data-testid=room-state]");
  const form = /** @type {HTMLFormElement} */ ($("[data-testid=room-form]"));
  /** @type {ReturnType<typeof createClient> | undefined} */
  let room;
  onSubmit("[data-testid=room-join]", (v) => {
    const name = v.room.trim();
    if (!name) return;
    room?.close();
    list.replaceChildren();
    log(list, `Joining room '${name}'…`, "info");
    room = connect(`/ws/room/${encodeURIComponent(name)}`, stateEl, list);
    room.on("room_notification", (m) => log(list, m.payload.message));
    showOnline(room);
    for (const el of form.querySelectorAll("input, button")) {
      /** @type {HTMLInputElement} */ (el).disabled = false;
    }
  }, list);
  onSubmit(
    "[data-testid=room-form]",
    (v) => room?.send({ action: "room_chat", payload: { message: v.message } }),
    list,
  );
}

// ---- Background jobs -----------------------------------------------------------------------
{
  const list = $("[data-testid=jobs-log]");
  const stateEl = $("[data-testid=jobs-state]");
  if (mounted("/ws/background_jobs")) {
    const jobs = connect("/ws/background_jobs", stateEl, list);
    jobs.on("job_status", (m) => log(list, String(m.payload.message ?? JSON.stringify(m.payload))));
    onSubmit(
      "[data-testid=jobs-form]",
      (v) => jobs.send({ action: "job", payload: { type: v.type, content: v.content } }),
      list,
    );
  } else {
    showState(stateEl, "unavailable");
  }
}

// ---- Showcase: chat, reliable chat, notifications, analytics --------------------------------
{
  const list = $("[data-testid=showcase-log]");
  /** @type {Record<string, ReturnType<typeof createClient> | undefined>} */
  const clients = {};
  /** @type {Array<[string, string, string, (p: any) => string]>} */
  const endpoints = [
    ["chat", "/ws/chat", "chat_notification", (p) => p.message],
    ["reliable", "/ws/reliable", "reliable_chat_notification", (p) => p.message],
    ["notifications", "/ws/notifications", "notification_broadcast", (p) => p.message],
    ["analytics", "/ws/analytics", "analytics_notification", (p) => p.event],
  ];
  for (const [name, path, action, text] of endpoints) {
    const stateEl = $(`[data-testid=${name}-state]`);
    if (!mounted(path)) {
      showState(stateEl, "unavailable");
      continue;
    }
    const client = connect(path, stateEl, list);
    client.on(action, (m) => log(list, `[${name}] ${text(m.payload)}`));
    // The reliable endpoint answers system notices as chat_notification.
    if (name === "reliable") {
      client.on("chat_notification", (m) => log(list, `[${name}] ${m.payload.message}`));
    }
    clients[name] = client;
  }
  onSubmit("[data-testid=showcase-form]", (v) => {
    if (!clients.chat && !clients.reliable) throw new Error("The chat endpoints are not mounted");
    clients.chat?.send({ action: "chat", payload: { message: v.message } });
    clients.reliable?.send({ action: "reliable_chat", payload: { message: v.message } });
  }, list);
  const pageView = () =>
    clients.analytics?.send({
      action: "analytics",
      payload: {
        event: "page_view",
        data: {
          timestamp: new Date().toISOString(),
          user_agent: navigator.userAgent,
          url: location.href,
        },
      },
    });
  $("[data-testid=analytics-button]").addEventListener("click", () => {
    if (!clients.analytics) return log(list, "⚠️ /ws/analytics is not mounted", "error");
    pageView();
  });
  pageView(); // queued until the socket opens
}
