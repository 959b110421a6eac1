// Entry forms through the outbox: the entry gets its UUID on this phone and is kept in IndexedDB before
// the network is tried, so a dropped connection loses nothing. Without JavaScript the same forms post to
// the server as before (progressive enhancement).
import "./outbox-core.js";
import { csrfToken } from "./api.js";
import { labelOf, onResult, render, requestBackgroundSync } from "./outbox-ui.js";

const outbox = self.AfterglowOutbox;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function pad(n) {
  return String(n).padStart(2, "0");
}

// The day on this phone when the entry was written: an entry sent tomorrow still belongs to today.
export function localDate(moment = new Date()) {
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}`;
}

function numberOf(data, name) {
  const value = data.get(name);
  return value === null || value === "" ? undefined : Number(value);
}

function common(form, data, body) {
  const sharing = data.get("sharing");
  if (sharing) body.sharing = sharing;
  const baseVersion = numberOf(data, "base_version");
  if (baseVersion !== undefined) body.base_version = baseVersion;
  else body.local_date = localDate(); // an edit keeps its date; a new entry takes today's
  return body;
}

const BODIES = {
  checkin(form, data) {
    const body = { mood: numberOf(data, "mood"), tags: data.getAll("tags"), note: data.get("note") || "" };
    for (const name of ["anxiety", "energy", "sleep_hours"]) {
      const value = numberOf(data, name);
      if (value !== undefined) body[name] = value;
    }
    return body;
  },
  reflection(form, data) {
    const answers = [];
    for (const [name, value] of data.entries()) {
      if (name.startsWith("answer:") && String(value).trim() !== "") {
        answers.push({ prompt_id: name.slice("answer:".length), text: String(value) });
      }
    }
    const body = { kind: form.dataset.kind, answers, status: "final" };
    for (const name of ["kap_session_id", "prompt_set"]) if (data.get(name)) body[name] = data.get(name);
    return body;
  },
  aftercare(form, data) {
    const symptoms = {};
    for (const name of form.dataset.symptoms.split(",")) symptoms[name] = numberOf(data, name) || 0;
    return { kap_session_id: data.get("kap_session_id"), symptoms, note: data.get("note") || "" };
  },
  questionnaire(form, data) {
    const answers = form.dataset.items.split(",").map((name) => numberOf(data, name));
    const difficulty = numberOf(data, "difficulty");
    if (difficulty !== undefined) answers.push(difficulty);
    return { instrument: form.dataset.instrument, answers };
  },
};

export function bodyOf(form) {
  const data = new FormData(form);
  return common(form, data, BODIES[form.dataset.outbox](form, data));
}

export function setEntryId(form, id) {
  form.dataset.entryId = id;
  const field = form.querySelector("[name=entry_id]");
  if (field) field.value = id;
}

function say(form, text, { problem = false } = {}) {
  const status = form.querySelector(".form-status");
  form.querySelectorAll(".form-problem").forEach((node) => node.remove());
  if (problem) {
    // role=alert: screen readers announce it as it appears.
    const box = document.createElement("div");
    box.className = "notice notice-error form-problem";
    box.setAttribute("role", "alert");
    box.textContent = text;
    (status || form.querySelector("[type=submit]")).before(box);
    if (status) status.textContent = "";
  } else if (status) {
    status.textContent = text;
  }
}

function startOver(form) {
  form.reset();
  setEntryId(form, crypto.randomUUID());
  form.dispatchEvent(new CustomEvent("outbox:reset"));
}

async function submit(form) {
  const kind = form.dataset.outbox;
  const id = form.dataset.entryId;
  const body = bodyOf(form);
  const record = await outbox.put(kind, id, body, { owner: document.body.dataset.user || undefined });
  form.dataset.submitted = id;
  say(form, "Saved on this phone. Sending…");
  const [result] = await outbox.replay({ csrfToken: csrfToken(), ids: [id], onResult });
  const outcome = result ? result.outcome : "pending";
  if (outcome === "saved") {
    if (result.data && result.data.safety_alert) {
      startOver(form);
      say(form, "Saved.");
    } else if (form.dataset.after) {
      location.assign(form.dataset.after.replace("{id}", id));
      return;
    } else {
      startOver(form);
      say(form, `${labelOf(record)} saved. Thank you.`);
    }
  } else if (outcome === "pending") {
    startOver(form);
    say(form, "Saved on this phone — not yet sent. It will be sent when you are back online.");
    requestBackgroundSync(); // the service worker sends it when the connection is back, where it can
  } else if (outcome === "signin") {
    say(form, "You are signed out. Your entry is kept on this phone: sign in again to send it.", { problem: true });
  } else if (outcome === "conflict") {
    say(form, "This entry was changed somewhere else too. Both versions are kept on this phone: choose which to keep under “On this phone”.", { problem: true });
  } else {
    const message = (result.record && (await outbox.get(id))?.error) || "This entry was not accepted.";
    say(form, `${message} Your text is kept.`, { problem: true });
  }
  await render();
}

export function enhanceForms() {
  for (const form of document.querySelectorAll("form[data-outbox]")) {
    if (form.hasAttribute("data-fresh-id")) {
      // A copy kept on the phone: its id must be made here, once per entry. ?entry= resumes a draft.
      const wanted = new URLSearchParams(location.search).get("entry");
      setEntryId(form, wanted && UUID.test(wanted) ? wanted : crypto.randomUUID());
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = form.querySelector("[type=submit]");
      if (button) button.disabled = true;
      submit(form)
        .catch(() => say(form, "Something went wrong on this phone. Please try again.", { problem: true }))
        .finally(() => {
          if (button) button.disabled = false;
        });
    });
  }
}
