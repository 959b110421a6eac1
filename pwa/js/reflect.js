// Reflection forms: one prompt per screen for the integration reflection (back, next, skip, progress),
// and a draft kept as the patient types: first in the outbox on this phone (IndexedDB), then on the
// server, so closing the app (offline or not) loses nothing. Saving the finished reflection goes through
// the outbox too (pwa/js/forms.js). Without JavaScript the same form shows every prompt and posts normally.
import "./outbox-core.js";
import { csrfToken } from "./api.js";

const outbox = self.AfterglowOutbox;
const form = document.querySelector(".reflect-form");
const AUTOSAVE_DELAY_MS = 800;

function answers() {
  return [...form.querySelectorAll("textarea[name^='answer:']")]
    .map((area) => ({ prompt_id: area.name.slice("answer:".length), text: area.value }))
    .filter((answer) => answer.text.trim() !== "");
}

function draftBody() {
  const body = { kind: form.dataset.kind, answers: answers(), status: "draft" };
  const session = form.querySelector("[name=kap_session_id]");
  const promptSet = form.querySelector("[name=prompt_set]");
  const sharing = form.querySelector("[name=sharing]");
  if (session && session.value) body.kap_session_id = session.value;
  if (promptSet && promptSet.value) body.prompt_set = promptSet.value;
  if (sharing && sharing.value) body.sharing = sharing.value;
  return body;
}

// Where to carry on writing: the offline shell's copy of this form, which opens offline too.
export function resumeLink(kind, id) {
  return `/app/reflect${kind === "free" ? "" : `/${kind}`}?entry=${id}`;
}

function timeNow() {
  return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

const DRAFT_WORDS = {
  pending: "Saved on this phone — not yet sent. You seem to be offline.",
  signin: "Saved on this phone only. Please sign in again to keep saving.",
};

async function saveDraft(status) {
  const id = form.dataset.entryId;
  const queued = await outbox.get(id);
  // The finished reflection is already on its way: a draft must never replace it.
  if ((queued && !queued.draft) || form.dataset.submitted === id) return;
  await outbox.put("reflection", id, draftBody(), {
    draft: true,
    href: resumeLink(form.dataset.kind, id),
    owner: document.body.dataset.user || undefined,
  });
  const [result] = await outbox.replay({ csrfToken: csrfToken(), ids: [id] });
  const outcome = result ? result.outcome : "pending";
  status.textContent =
    outcome === "saved"
      ? `Draft saved at ${timeNow()}.`
      : DRAFT_WORDS[outcome] || "Saved on this phone only. We will try again as you write.";
}

// Hidden fields the shell's empty form lacks: a draft begun on a session's page stays about that session.
function keepField(name, value) {
  if (!value || form.querySelector(`[name=${name}]`)) return;
  const field = document.createElement("input");
  field.type = "hidden";
  field.name = name;
  field.value = value;
  form.prepend(field);
}

async function restore(status) {
  const queued = await outbox.get(form.dataset.entryId);
  if (!queued) return;
  keepField("kap_session_id", queued.body.kap_session_id);
  keepField("prompt_set", queued.body.prompt_set);
  for (const answer of queued.body.answers || []) {
    const area = form.querySelector(`textarea[name="answer:${CSS.escape(answer.prompt_id)}"]`);
    if (area && !area.value) area.value = answer.text;
  }
  status.textContent = "We restored what you wrote on this phone.";
}

function setupAutosave() {
  // A finished reflection being edited is saved only when the patient presses Save.
  if (form.querySelector("[name=base_version]")) return;
  const status = form.querySelector(".save-status");
  let timer = null;
  let saving = Promise.resolve();

  const save = () => {
    timer = null;
    saving = saving.then(() => saveDraft(status)).catch(() => {
      status.textContent = "Could not save the draft on this phone.";
    });
    return saving;
  };

  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(save, AUTOSAVE_DELAY_MS);
  });
  form.addEventListener("submit", () => clearTimeout(timer));
  form.addEventListener("outbox:reset", () => {
    clearTimeout(timer);
    status.textContent = "";
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && timer) {
      clearTimeout(timer);
      save();
    }
  });
  return restore(status);
}

function setupStepper() {
  if (!form.hasAttribute("data-stepper")) return;
  const prompts = [...form.querySelectorAll(".prompt")];
  const finish = form.querySelector(".finish");
  const nav = form.querySelector(".stepper-nav");
  const progress = form.querySelector(".stepper-progress");
  const back = nav.querySelector("[data-step=back]");
  const next = nav.querySelector("[data-step=next]");
  const skip = nav.querySelector("[data-step=skip]");
  let current = 0;

  const show = (index) => {
    current = Math.max(0, Math.min(index, prompts.length));
    prompts.forEach((prompt, i) => {
      prompt.hidden = i !== current;
    });
    const atEnd = current === prompts.length;
    finish.hidden = !atEnd;
    back.disabled = current === 0;
    next.hidden = atEnd;
    skip.hidden = atEnd;
    progress.textContent = atEnd
      ? "All questions done. Choose who can see it, then save."
      : `Question ${current + 1} of ${prompts.length}`;
    const focusTarget = atEnd ? finish.querySelector("select") : prompts[current].querySelector("textarea");
    if (focusTarget) focusTarget.focus({ preventScroll: false });
  };

  nav.hidden = false;
  progress.hidden = false;
  back.addEventListener("click", () => show(current - 1));
  next.addEventListener("click", () => show(current + 1));
  skip.addEventListener("click", () => {
    const area = prompts[current].querySelector("textarea");
    if (area.value.trim() === "") area.value = "";
    show(current + 1);
  });
  const firstEmpty = prompts.findIndex((p) => p.querySelector("textarea").value.trim() === "");
  show(firstEmpty === -1 ? prompts.length : firstEmpty);
}

if (form) {
  // Offline, the worker answers a session's "write your intention" link with the shell's empty form: the
  // reflection still belongs to that session.
  if (form.hasAttribute("data-fresh-id")) keepField("kap_session_id", new URLSearchParams(location.search).get("session"));
  // Restore first, so the stepper opens at the first question still empty.
  Promise.resolve(setupAutosave())
    .catch(() => undefined)
    .finally(setupStepper);
}
