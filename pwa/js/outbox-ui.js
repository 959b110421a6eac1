// What is waiting on this phone, in words a patient can trust: "on this phone — not yet sent", "sending",
// "saved", "needs your attention". Also the "Sync now" button and the crisis card for an entry that
// raised a safety alert when it arrived.
import "./outbox-core.js";
import { csrfToken } from "./api.js";

const outbox = self.AfterglowOutbox;
const { PENDING, SENDING, ATTENTION, CONFLICT, SIGN_IN } = outbox.states;
const REFLECTION_LABELS = {
  free: "Free writing",
  quick_capture: "Quick capture",
  intention: "Intention",
  integration: "Integration reflection",
};
const STATE_WORDS = {
  [PENDING]: "On this phone — not yet sent",
  [SENDING]: "Sending…",
  [ATTENTION]: "Needs your attention",
  [CONFLICT]: "Changed in two places — choose which to keep",
  [SIGN_IN]: "Please sign in again to send this. It stays on this phone.",
};

const section = document.querySelector("[data-outbox]");
const recentlySaved = [];

export function labelOf(record) {
  const body = record.body || {};
  let label = "Entry";
  if (record.kind === "checkin") label = `Check-in · mood ${body.mood}`;
  if (record.kind === "reflection") label = REFLECTION_LABELS[body.kind] || "Reflection";
  if (record.kind === "aftercare") label = "Aftercare";
  if (record.kind === "questionnaire") label = `Questionnaire (${String(body.instrument || "").toUpperCase()})`;
  return record.draft ? `${label} (draft)` : label;
}

// The words of an entry, to show two versions side by side.
export function textOf(kind, body) {
  if (!body) return "";
  if (kind === "reflection") return (body.answers || []).map((a) => a.text).join("\n\n");
  if (kind === "checkin") return [`Mood ${body.mood}`, body.note || ""].filter(Boolean).join("\n");
  if (kind === "aftercare") return body.note || "";
  if (kind === "questionnaire") return (body.answers || []).join(", ");
  return "";
}

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

function when(iso) {
  return new Date(iso).toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });
}

function button(text, onClick, className = "button-small button-secondary") {
  const node = element("button", { type: "button", class: className }, text);
  node.addEventListener("click", onClick);
  return node;
}

function conflictView(record) {
  const wrap = element("div", { class: "conflict" });
  const mine = element("div", { class: "version version-mine" });
  mine.append(element("h3", {}, "Your version (on this phone)"), element("p", { class: "version-text" }, textOf(record.kind, record.body)));
  const theirs = element("div", { class: "version version-saved" });
  theirs.append(element("h3", {}, "The saved version"), element("p", { class: "version-text" }, textOf(record.kind, record.current)));
  const actions = element("div", { class: "item-actions" });
  actions.append(
    button("Keep mine", () => resolveConflict(record, "mine")),
    button("Keep both", () => resolveConflict(record, "both")),
    button("Keep the saved one", () => resolveConflict(record, "saved")),
  );
  wrap.append(mine, theirs, actions);
  return wrap;
}

async function resolveConflict(record, choice) {
  if (choice === "saved") {
    await outbox.remove(record.id);
    return render();
  }
  const body = { ...record.body };
  let id = record.id;
  if (choice === "mine") {
    body.base_version = record.current.version; // overwrite; the server keeps the saved one as a version
  } else {
    delete body.base_version; // a new entry beside the saved one
    id = crypto.randomUUID();
  }
  await outbox.put(record.kind, id, body, { draft: false, href: record.href });
  if (id !== record.id) await outbox.remove(record.id);
  await replayNow([id]);
}

const OTHERS_WORDS = "Written while another account was signed in on this phone: it is sent when that account signs in again.";

function itemView(record, owner) {
  const others = outbox.isOthers(record, owner);
  const item = element("li", { class: `outbox-item state-${others ? "others" : record.state}`, "data-id": record.id });
  const head = element("p", { class: "item-head" });
  // Someone else's entry: not even its kind and mood are shown to whoever holds the phone now.
  head.append(element("strong", {}, others ? "An entry" : labelOf(record)), document.createTextNode(` · ${when(record.createdAt)}`));
  const words = others ? OTHERS_WORDS : STATE_WORDS[record.state] || STATE_WORDS[PENDING];
  item.append(head, element("p", { class: "item-state" }, words));
  if (others) return item;
  // Not role=alert: the list is redrawn on every change, and the form that was refused already announced it.
  if (record.error) item.append(element("p", { class: "item-error" }, record.error));
  if (record.state === CONFLICT && record.current) item.append(conflictView(record));
  const actions = element("div", { class: "item-actions" });
  if (record.draft && record.href) actions.append(element("a", { href: record.href, class: "button button-small button-secondary" }, "Continue writing"));
  if (record.state === SIGN_IN) {
    actions.append(element("a", { href: `/login?next=${encodeURIComponent(location.pathname)}`, class: "button button-small" }, "Sign in"));
  }
  if (record.state === ATTENTION) {
    item.append(element("p", { class: "version-text" }, textOf(record.kind, record.body)));
    actions.append(button("Try again", () => replayNow([record.id])));
    actions.append(
      button("Delete from this phone", async () => {
        if (window.confirm("Delete this entry from this phone? It was never sent.")) {
          await outbox.remove(record.id);
          render();
        }
      }),
    );
  }
  if (actions.childElementCount) item.append(actions);
  return item;
}

export async function render() {
  if (!section) return;
  let records = [];
  let owner = null;
  try {
    records = await outbox.all();
    owner = await outbox.getMeta("owner");
  } catch {
    records = [];
  }
  const list = section.querySelector(".outbox-items");
  list.replaceChildren(
    ...records.map((record) => itemView(record, owner)),
    ...recentlySaved.map((saved) => {
      const item = element("li", { class: "outbox-item state-saved" });
      item.append(element("p", { class: "item-head" }, saved), element("p", { class: "item-state" }, "Saved"));
      return item;
    }),
  );
  const waiting = records.length;
  section.querySelector(".outbox-summary").textContent = waiting
    ? `${waiting} ${waiting === 1 ? "entry is" : "entries are"} on this phone, not yet sent.`
    : "Everything you wrote is saved.";
  section.hidden = waiting === 0 && recentlySaved.length === 0;
}

// A reply to an entry that raised a safety alert: show the crisis card at once, wherever it came from.
export function showCrisis(card) {
  const dialog = document.querySelector("[data-crisis-dialog]");
  if (!dialog || !card) return;
  dialog.querySelector(".crisis-message").textContent = card.message;
  dialog.querySelector(".crisis-lines").replaceChildren(
    ...(card.lines || []).map((line) => {
      const item = element("li");
      item.append(element("a", { class: "button button-crisis", href: `tel:${line.number}` }, `Call ${line.number}`));
      if (line.kind === "call_or_text") {
        item.append(element("a", { class: "button button-secondary", href: `sms:${line.number}` }, `Text ${line.number}`));
      }
      item.append(element("span", { class: "crisis-label" }, line.label));
      return item;
    }),
  );
  const plan = dialog.querySelector(".crisis-plan");
  const sections = Object.entries(card.safety_plan || {}).filter(([, text]) => text);
  plan.hidden = sections.length === 0;
  plan.querySelector("dl").replaceChildren(
    ...sections.flatMap(([name, text]) => [element("dt", {}, name.replaceAll("_", " ")), element("dd", {}, text)]),
  );
  dialog.querySelector("[data-crisis-close]").onclick = () => dialog.close();
  if (!dialog.open) dialog.showModal();
}

export function onResult(record, result) {
  if (result.outcome === "saved" && !record.draft) {
    recentlySaved.unshift(labelOf(record));
    recentlySaved.length = Math.min(recentlySaved.length, 5);
  }
  if (result.outcome === "saved" && result.data && result.data.safety_alert) showCrisis(result.data.crisis);
}

export async function requestBackgroundSync() {
  try {
    const registration = await navigator.serviceWorker?.getRegistration();
    if (registration && registration.sync) await registration.sync.register("afterglow-outbox");
  } catch {
    // Background Sync is a bonus (Chromium only): load, online, visibility and the button cover the rest.
  }
}

// Send what is waiting now. `ids`: only these (and also conflicts or refused ones among them).
export async function replayNow(ids = null) {
  if (section) section.setAttribute("aria-busy", "true");
  let results = [];
  try {
    results = await outbox.replay({ csrfToken: csrfToken(), ids, onResult });
  } finally {
    if (section) section.removeAttribute("aria-busy");
  }
  if (results.some((r) => r.outcome === PENDING)) await requestBackgroundSync();
  await render();
  return results;
}

export function initOutbox() {
  if (!section) return;
  outbox.onChange(() => render());
  section.querySelector("[data-sync-now]").addEventListener("click", () => replayNow());
  const trigger = () => replayNow().catch(() => render());
  window.addEventListener("online", trigger);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") trigger();
  });
  trigger(); // on load
}
